/**
 * The host firewall across real hosts: network namespaces on one bridge (client, two lbs, a web
 * server, a db member running PostgreSQL, a monitor hosting the embedded DCS), each with its
 * node's ruleset applied before its agent starts. Under default-drop the lb pair still elects
 * and the site answers; PostgreSQL is reachable from the web host and from the lbs (a tcp
 * frontend forwards to it) and not from the client; the agent API and the app are closed to the
 * client. `bulwark firewall verify` is clean, and reports the holes when they are opened by hand,
 * also on a port the host does not open at all.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { NetnsLab, labUnavailable } from '../harness/netns-lab.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const SUBNET = '10.215.0';
const VIP = `${SUBNET}.100`;
const HOSTS = { 'lb-1': 1, 'lb-2': 2, 'web-1': 11, 'db-1': 21, 'mon-1': 31, client: 50 };
const NODES = ['lb-1', 'lb-2', 'web-1', 'db-1', 'mon-1'] as const;
const at = (h: keyof typeof HOSTS): string => `${SUBNET}.${HOSTS[h]}`;

const YAML = `
cluster: fwlab
state_dir: state
nodes:
  - { name: lb-1,  role: lb,  address: ${at('lb-1')} }
  - { name: lb-2,  role: lb,  address: ${at('lb-2')} }
  - { name: web-1, role: web, address: ${at('web-1')} }
  - { name: db-1,  role: db,  address: ${at('db-1')} }
  - { name: mon-1, role: monitor, address: ${at('mon-1')} }
firewall:
  client_networks: [${SUBNET}.0/24]
web:
${demoAppYaml(3000)}edge:
  vip: ${VIP}
  standby: { interface: eth0 }
  frontends:
    - { name: www, port: 80, default_backend: app }
    - { name: pg, mode: tcp, port: 5433, default_backend: pg }
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 2, fall: 2 }
      servers: [ { node: web-1 } ]
    - name: pg
      health_check: { interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }
      servers: [ { name: db-1, address: "${at('db-1')}:5432" } ]
database:
  mode: async
`;

const skip = skipUnlessCi(labUnavailable() ?? missing({ root: true, tools: ['nft'], why: 'the firewall lab' }), 'netns firewall tests');

describe('the host firewall across hosts', { skip, timeout: 300_000 }, () => {
  const c = tempCluster(YAML);
  const lab = new NetnsLab('bwfwl', SUBNET, c.dir);

  /** open, refused or timeout: a TCP connect from one lab host to another. */
  const reach = (from: string, host: string, port: number): string => lab.run(from, [process.execPath, '-e', `
    const s = require('net').connect({ host: '${host}', port: ${port} });
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 800);
    s.on('connect', () => { console.log('open'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); process.exit(0); });`]).trim();
  const bulwarkIn = (host: string, args: string[]) => spawnSync('ip', ['netns', 'exec', lab.host(host).ns, process.execPath, BIN, ...args, '-c', c.file], { encoding: 'utf8', timeout: 60_000 });

  before(() => {
    lab.create(HOSTS);
    for (const n of NODES) {
      const r = bulwarkIn(n, ['firewall', 'apply', '--node', n, '--yes']);
      assert.equal(r.status, 0, r.stderr);
    }
    for (const n of NODES) lab.spawn(n, [process.execPath, BIN, 'agent', '--node', n, '-c', c.file], n, { BULWARK_LOG_FORMAT: 'json' });
  });
  after(async () => {
    await lab.stopAll();
    lab.destroy();
    c.cleanup();
  });

  it('under default-drop the lb pair elects and the site answers the client', async () => {
    await eventually(() => {
      const holders = ['lb-1', 'lb-2'].filter((lb) => lab.addresses(lb).includes(VIP));
      assert.equal(holders.length, 1);
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await eventually(() => {
      assert.equal(lab.run('client', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', `http://${VIP}/api/whoami`]), '200');
    }, { timeoutMs: 30_000, intervalMs: 200 });
  });

  it('PostgreSQL: reachable from the web host, dropped for the client; agent API and app closed to the client', async () => {
    await eventually(() => assert.equal(reach('web-1', at('db-1'), 5432), 'open'), { timeoutMs: 90_000, intervalMs: 500, message: 'PostgreSQL up on db-1' });
    assert.equal(reach('client', at('db-1'), 5432), 'timeout');
    assert.equal(reach('client', at('lb-1'), 7700), 'timeout');
    assert.equal(reach('client', at('web-1'), 3000), 'timeout');
    assert.equal(reach('lb-1', at('web-1'), 3000), 'open', 'the lbs reach the app');
    assert.equal(reach('mon-1', at('db-1'), 5432), 'timeout', 'the monitor has no business with PostgreSQL');
    assert.equal(reach('lb-1', at('db-1'), 5432), 'open', 'the lbs reach the pg backend server');
    assert.equal(reach('lb-2', at('db-1'), 5432), 'open');
  });

  it('the tcp frontend carries the client to PostgreSQL through the active lb', async () => {
    // An SSLRequest, answered by PostgreSQL itself ('S' or 'N') before any authentication.
    const sslRequest = (): string => lab.run('client', [process.execPath, '-e', `
      const s = require('net').connect({ host: '${VIP}', port: 5433 }, () => s.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
      const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1000);
      s.once('data', (d) => { console.log(d.toString('latin1', 0, 1)); process.exit(0); });
      s.on('close', () => { console.log('closed'); process.exit(0); });
      s.on('error', (e) => { console.log(e.code); process.exit(0); });`]).trim();
    await eventually(() => assert.match(sslRequest(), /^[SN]$/), { timeoutMs: 30_000, intervalMs: 300, message: 'PostgreSQL through lb → db-1:5432' });
  });

  it('bulwark firewall verify is clean, then reports a hole opened by hand', async () => {
    const clean = await eventually(() => {
      const r = bulwarkIn('mon-1', ['firewall', 'verify']);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return r.stdout;
    }, { timeoutMs: 30_000, intervalMs: 1000 });
    assert.match(clean, /^clean: \d+ probes between 5 nodes/);
    // A stray service on a port db-1 does not open at all (the app port): dropped, so still clean.
    lab.spawn('db-1', [process.execPath, '-e', `require('net').createServer((c) => c.end()).listen(3000, '${at('db-1')}')`], 'stray-3000');
    await eventually(() => assert.equal(reach('db-1', at('db-1'), 3000), 'open'), { timeoutMs: 10_000, intervalMs: 100 });
    assert.equal(reach('lb-1', at('db-1'), 3000), 'timeout');
    // 22 (SSH, closed: no admin networks) has no listener in the lab: opened, it refuses.
    lab.run('db-1', ['nft', 'insert', 'rule', 'inet', 'bulwark', 'input', 'tcp', 'dport', '{ 22, 3000, 5432 }', 'accept']);
    const holed = bulwarkIn('mon-1', ['firewall', 'verify']);
    assert.equal(holed.status, 1, holed.stdout);
    assert.match(holed.stdout, /mon-1 +db-1 +5432 +closed +open/);
    assert.doesNotMatch(holed.stdout, /lb-1 +db-1 +5432/, 'the lbs may reach the pg backend server: no difference there');
    for (const from of ['lb-1', 'lb-2', 'web-1', 'mon-1']) {
      assert.match(holed.stdout, new RegExp(`${from} +db-1 +3000 +closed +open +db-1 does not open 3000`));
      assert.match(holed.stdout, new RegExp(`${from} +db-1 +22 +closed +refused \\(not dropped: nothing listens\\)`));
    }
  });
});
