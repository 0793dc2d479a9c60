/**
 * The whole slice as a user drives it: `bulwark up --detach` on a test cluster, then failures,
 * reload and drain under a bounded client load through the edge, checked with `bulwark status`.
 */
import path from 'node:path';
import { agentCall } from '../harness/agent-tls.js';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { startLoad } from '../harness/load.js';
import { eventually } from '../harness/eventually.js';

const VIP = '127.0.3.100';
const PORT = 18080;
const AGENT = 17700;
const INTERVAL = 300;
const FALL = 2;

function clusterYaml(opts: { policy?: string; web2Weight?: number; web4?: boolean } = {}): string {
  return `
cluster: edge-test
state_dir: state
agent: { port: ${AGENT} }
nodes:
  - { name: lb-1,  role: lb,  address: 127.0.3.1 }
  - { name: web-1, role: web, address: 127.0.3.11 }
  - { name: web-2, role: web, address: 127.0.3.12 }
  - { name: web-3, role: web, address: 127.0.3.13 }
${opts.web4 ? '  - { name: web-4, role: web, address: 127.0.3.14 }\n' : ''}web:
${demoAppYaml(13000)}edge:
  vip: ${VIP}
  frontends:
    - { name: www, mode: http, port: ${PORT}, routes: [ { path_prefix: /, backend: app } ] }
  backends:
    - name: app
      balance: { policy: ${opts.policy ?? 'roundrobin'} }
      health_check: { path: /healthz, interval: ${INTERVAL}ms, timeout: 250ms, rise: 2, fall: ${FALL} }
      servers:
        - { node: web-1 }
        - { node: web-2, weight: ${opts.web2Weight ?? 1} }
        - { node: web-3, backup: true }
${opts.web4 ? '        - { node: web-4 }\n' : ''}`;
}

interface StatusJson {
  cluster: string;
  nodes: { name: string; role: string; address: string; agentPort: number; healthy: boolean; pid?: number }[];
  edge: { url: string; active: string | null; backends: { name: string; policy: string; servers: { name: string; address: string; up: boolean; backup: boolean; draining: boolean; active: number }[] }[] };
}

async function statusJson(file: string): Promise<StatusJson> {
  const r = await bulwark(['status', '--json', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

let stateDir = '';
const LB1 = { address: '127.0.3.1', agentPort: AGENT };

async function lbServer(name: string): Promise<{ up: boolean; draining: boolean; active: number }> {
  const { body } = await agentCall<{ lb: { backends: { servers: { name: string; up: boolean; draining: boolean; active: number }[] }[] } }>(stateDir, LB1, 'GET', '/status');
  return body.lb.backends[0]!.servers.find((s) => s.name === name)!;
}

describe('a local cluster driven through the CLI', { timeout: 180_000 }, () => {
  const c = tempCluster(clusterYaml());
  stateDir = path.join(c.dir, 'state');
  const url = `http://${VIP}:${PORT}/api/whoami`;

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s']);
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`http://${VIP.replace(/\./g, '\\.')}:${PORT}`));
  });

  after(async () => {
    const pids = (await statusJson(c.file).catch(() => undefined))?.nodes.map((n) => n.pid).filter((p): p is number => !!p) ?? [];
    const r = await bulwark(['down', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    for (const pid of pids) {
      await eventually(() => assert.throws(() => process.kill(pid, 0)), { timeoutMs: 15_000, message: `node pid ${pid} still alive after down` });
    }
    c.cleanup();
  });

  it('status --json keeps the contract fields', async () => {
    const s = await statusJson(c.file);
    assert.equal(s.cluster, 'edge-test');
    assert.equal(s.nodes.length, 4);
    for (const n of s.nodes) {
      assert.equal(typeof n.name, 'string');
      assert.ok(['lb', 'web'].includes(n.role));
      assert.match(n.address, /^127\.0\.3\./);
      assert.equal(n.agentPort, AGENT);
      assert.equal(n.healthy, true, `${n.name} not healthy`);
    }
    assert.equal(s.edge.url, `http://${VIP}:${PORT}`);
    assert.equal(s.edge.active, 'lb-1');
    const servers = s.edge.backends[0]!.servers;
    assert.deepEqual(servers.map((x) => [x.name, x.address, x.backup]), [
      ['web-1', '127.0.3.11:13000', false], ['web-2', '127.0.3.12:13000', false], ['web-3', '127.0.3.13:13000', true],
    ]);
    assert.ok(servers.every((x) => x.up));
  });

  it('balances across the primaries, never the backup while they are up', async () => {
    const load = startLoad(url, { concurrency: 4, maxRequests: 400, maxMs: 20_000 });
    const r = await load.finished;
    assert.equal(r.failed, 0, JSON.stringify(r.failures));
    assert.ok((r.byNode['web-1'] ?? 0) > 50 && (r.byNode['web-2'] ?? 0) > 50, JSON.stringify(r.byNode));
    assert.equal(r.byNode['web-3'] ?? 0, 0);
  });

  it('kill -9 of a web node under load: zero failed requests, marked down within one fall period', async () => {
    const load = startLoad(url, { concurrency: 8, maxMs: 30_000 });
    await eventually(() => assert.ok(load.result.ok > 200));
    const k = await bulwark(['kill', 'web-1', '-c', c.file]);
    assert.equal(k.code, 0, k.stderr);
    const killedAt = Date.now(); // the node is dead once the command returns
    await eventually(async () => assert.equal((await lbServer('web-1')).up, false), { timeoutMs: 5_000, intervalMs: 20 });
    const detectMs = Date.now() - killedAt;
    const before = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > before + 300));
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
    // fall × interval, plus our status polling.
    assert.ok(detectMs <= FALL * INTERVAL + 300, `web-1 marked down ${detectMs}ms after it died`);
  });

  it('all primaries dead: the backup serves, with zero failed requests; primaries return', async () => {
    const load = startLoad(url, { concurrency: 8, maxMs: 30_000 });
    await eventually(() => assert.ok(load.result.ok > 100));
    const k = await bulwark(['kill', 'web-2', '-c', c.file]);
    assert.equal(k.code, 0, k.stderr);
    await eventually(() => assert.ok((load.result.byNode['web-3'] ?? 0) > 200), { timeoutMs: 10_000 });
    for (const n of ['web-1', 'web-2']) assert.equal((await bulwark(['start', n, '-c', c.file])).code, 0);
    await eventually(async () => {
      assert.equal((await lbServer('web-1')).up, true);
      assert.equal((await lbServer('web-2')).up, true);
    }, { timeoutMs: 20_000 });
    const backupBefore = load.result.byNode['web-3'] ?? 0;
    const okBefore = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > okBefore + 300));
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
    // Once the primaries are back the backup gets (almost) nothing: only requests already in flight.
    assert.ok((r.byNode['web-3'] ?? 0) - backupBefore <= 8, `backup kept serving: ${JSON.stringify(r.byNode)}`);
  });

  it('reload under load: zero failed requests, new policy applied, health state kept', async () => {
    const load = startLoad(url, { concurrency: 8, maxMs: 30_000 });
    await eventually(() => assert.ok(load.result.ok > 100));
    fs.writeFileSync(c.file, clusterYaml({ policy: 'leastconn', web2Weight: 2 }));
    const r1 = await bulwark(['reload', '-c', c.file]);
    assert.equal(r1.code, 0, r1.stdout + r1.stderr);
    assert.match(r1.stdout, /lb-1: edge reloaded/);
    const s = await statusJson(c.file);
    assert.equal(s.edge.backends[0]!.policy, 'leastconn');
    // Take web-2's app down by killing the node, then reload: it must stay down at once.
    assert.equal((await bulwark(['kill', 'web-2', '-c', c.file])).code, 0);
    await eventually(async () => assert.equal((await lbServer('web-2')).up, false), { timeoutMs: 5_000 });
    fs.writeFileSync(c.file, clusterYaml({ policy: 'roundrobin' }));
    const reloadAgain = await agentCall(stateDir, LB1, 'POST', '/reload', undefined, 15_000);
    assert.equal(reloadAgain.status, 200);
    assert.equal((await lbServer('web-2')).up, false, 'health state lost across reload');
    const okBefore = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > okBefore + 300));
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
    assert.equal((await bulwark(['start', 'web-2', '-c', c.file])).code, 0);
    await eventually(async () => assert.equal((await lbServer('web-2')).up, true), { timeoutMs: 20_000 });
  });

  it('an invalid file is refused by reload and nothing changes', async () => {
    const good = fs.readFileSync(c.file, 'utf8');
    fs.writeFileSync(c.file, good.replace('policy: roundrobin', 'policy: roundrobbin'));
    const r = await bulwark(['reload', '-c', c.file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cluster\.yaml:\d+:\d+: .*policy/);
    fs.writeFileSync(c.file, good);
    const res = await fetch(url);
    assert.equal(res.status, 200);
  });

  it('drain under load: in-flight requests finish, new ones avoid the server, zero failures', async () => {
    const load = startLoad(url, { concurrency: 6, maxMs: 30_000 });
    await eventually(() => assert.ok(load.result.ok > 100));
    // Slow requests spread over both primaries, in flight while we drain.
    const slow = Array.from({ length: 6 }, () => fetch(`http://${VIP}:${PORT}/api/slow?ms=1200`).then(async (r) => ({ status: r.status, body: (await r.json()) as { node: string } })));
    await eventually(async () => assert.ok((await lbServer('web-2')).active > 0));
    const d = await bulwark(['drain', 'web-2', '-c', c.file]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /web-2 draining/);
    const web2AtDrain = load.result.byNode['web-2'] ?? 0;
    const results = await Promise.all(slow);
    assert.deepEqual(results.map((x) => x.status), [200, 200, 200, 200, 200, 200]);
    assert.ok(results.some((x) => x.body.node === 'web-2'), 'no slow request was in flight on web-2');
    const okBefore = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > okBefore + 300));
    // At most the requests already dispatched when the drain landed.
    assert.ok((load.result.byNode['web-2'] ?? 0) - web2AtDrain <= 6, JSON.stringify(load.result.byNode));
    assert.equal((await lbServer('web-2')).draining, true);
    const u = await bulwark(['drain', 'web-2', '--undo', '-c', c.file]);
    assert.equal(u.code, 0, u.stderr);
    const before2 = load.result.byNode['web-2'] ?? 0;
    await eventually(() => assert.ok((load.result.byNode['web-2'] ?? 0) > before2 + 50));
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
  });

  it('deploy app under load: each web node\'s app restarts in turn, drained first; zero failed requests', async () => {
    const appPid = async (n: number): Promise<number> =>
      (await agentCall<{ web: { app: { pid: number } } }>(stateDir, { address: `127.0.3.1${n}`, agentPort: AGENT }, 'GET', '/status')).body.web.app.pid;
    const before = await Promise.all([1, 2, 3].map(appPid));
    const load = startLoad(url, { concurrency: 6, maxMs: 60_000 });
    await eventually(() => assert.ok(load.result.ok > 100));
    // Requests in flight when the first drain lands must finish on the old process.
    const slow = Array.from({ length: 4 }, () => fetch(`http://${VIP}:${PORT}/api/slow?ms=800`).then((r) => r.status));
    const d = await bulwark(['deploy', 'app', '--json', '-c', c.file], { timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const report = JSON.parse(d.stdout) as { ok: boolean; steps: { node: string; pid: number; restartMs: number }[] };
    assert.deepEqual(report.steps.map((s) => s.node), ['web-1', 'web-2', 'web-3'], 'one node at a time, in order');
    assert.deepEqual(await Promise.all(slow), [200, 200, 200, 200]);
    const after = await Promise.all([1, 2, 3].map(appPid));
    after.forEach((pid, i) => assert.notEqual(pid, before[i], `web-${i + 1}'s app was not restarted`));
    const okBefore = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > okBefore + 200));
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
    for (const s of await Promise.all(['web-1', 'web-2'].map(lbServer))) assert.equal(s.draining, false, 'left drained');
    const bad = await bulwark(['deploy', 'app', '--node', 'lb-1', '-c', c.file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /lb-1 is a lb node, not a web node/);
  });

  it('a web node added to the file and reloaded starts and takes traffic; removed, it stops; zero failed requests', async () => {
    const load = startLoad(url, { concurrency: 6, maxMs: 60_000 });
    await eventually(() => assert.ok(load.result.ok > 100));
    fs.writeFileSync(c.file, clusterYaml({ web4: true }));
    const add = await bulwark(['reload', '-c', c.file], { timeoutMs: 90_000 });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.match(add.stdout, /web-4: new in the file: started/);
    await eventually(() => assert.ok((load.result.byNode['web-4'] ?? 0) > 20, JSON.stringify(load.result.byNode)), { timeoutMs: 30_000 });
    fs.writeFileSync(c.file, clusterYaml());
    const remove = await bulwark(['reload', '-c', c.file], { timeoutMs: 90_000 });
    assert.equal(remove.code, 0, remove.stdout + remove.stderr);
    assert.match(remove.stdout, /web-4: no longer in the file: stopped/);
    const atRemoval = load.result.byNode['web-4'] ?? 0;
    const okBefore = load.result.ok;
    await eventually(() => assert.ok(load.result.ok > okBefore + 300));
    assert.equal(load.result.byNode['web-4'] ?? 0, atRemoval, 'web-4 still served after it was removed');
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures)}`);
    assert.equal((await statusJson(c.file)).nodes.some((n) => n.name === 'web-4'), false);
  });

  it('kill and start refuse unknown nodes with a clear error', async () => {
    const r = await bulwark(['kill', 'web-9', '-c', c.file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /web-9/);
    assert.match(r.stderr, /web-1/); // lists the known names
    const again = await bulwark(['up', '-c', c.file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already running/);
  });
});
