/**
 * `tls: acme` end to end against Pebble (Debian's ACME test server): two lbs started with
 * `bulwark up --detach` get a certificate for the VIP through HTTP-01 answered by the edge, the
 * passive holds the same one, renewal swaps it under a bounded HTTPS load with no failed request,
 * a takeover serves the same valid certificate, a restarted lb serves its kept certificate at once
 * and orders with the same account key, and an unreachable directory is retried with backoff while
 * the lb keeps serving. Pebble issues 40-second certificates here, so renewal (at half their life)
 * comes every 20 seconds.
 *
 * Addresses: 127.0.11.x (Pebble on .50).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AgentClient } from '../../src/control-plane/agent-api/index.js';
import { nodeCredentials } from '../../src/control-plane/certs/index.js';
import { agentCall } from '../harness/agent-tls.js';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { Pebble } from '../harness/pebble.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const skip = skipUnlessCi(missing({ tools: ['pebble', 'curl', 'openssl'], why: 'ACME issuance against Pebble' }), 'tls-acme');

const PEBBLE = '127.0.11.50';
const VIP = '127.0.11.100';
const HTTP = 18180;
const HTTPS = 18543;
const AGENT = 17711;
const LBS = { 'lb-1': '127.0.11.1', 'lb-2': '127.0.11.2' } as const;
type LbName = keyof typeof LBS;
const VALIDITY_S = 40;

function clusterYaml(o: { cluster: string; directory: string; lbs: Record<string, string>; web: string; vip: string; agent: number; caFile?: string }): string {
  return `
cluster: ${o.cluster}
state_dir: state
agent: { port: ${o.agent} }
nodes:
${Object.entries(o.lbs).map(([n, a]) => `  - { name: ${n}, role: lb, address: ${a} }`).join('\n')}
  - { name: web-1, role: web, address: ${o.web} }
web:
${demoAppYaml(13111)}edge:
  vip: ${o.vip}
  tls:
    source: acme
    acme:
      directory: ${o.directory}
      email: ops@example.test
      names: [${o.vip}]
${o.caFile ? `      ca_file: ${o.caFile}\n` : ''}      renew_at: 0.5
  frontends:
    - { name: www, port: ${HTTP}, https_port: ${HTTPS}, default_backend: app }
  backends:
    - name: app
      health_check: { path: /healthz, interval: 500ms, timeout: 250ms }
      servers: [ { node: web-1 } ]
`;
}

function run(file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
    child.stdin?.end('');
  });
}

interface Served { names: string[]; notAfter: string; source: string; issuer: string; serial: string }
interface LbStatus { holdsVip: boolean; certificates?: Served[]; acme?: { account: string | null; failures: number; lastError: string | null } }

/** The certificate a TLS client gets from host:port, verified against `ca`. */
function servedCertificate(host: string, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port: HTTPS, path: '/healthz', ca, agent: false }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerX509Certificate();
      res.resume();
      res.on('end', () => (cert ? resolve(cert) : reject(new Error('no peer certificate'))));
    });
    req.on('error', reject);
  });
}

/** The value of a sample whose labels include `labels` (other labels, e.g. node, may be there too). */
function metric(body: string, name: string, labels: Record<string, string>): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('edge.tls.source: acme against Pebble, two lbs', { skip, timeout: 300_000 }, () => {
  const c = tempCluster('');
  const stateDir = path.join(c.dir, 'state');
  let pebble: Pebble;
  let roots = '';
  const rootsFile = path.join(c.dir, 'pebble-roots.pem');
  const lbStatus = async (name: LbName): Promise<LbStatus> =>
    (await agentCall<{ lb: LbStatus }>(stateDir, { address: LBS[name], agentPort: AGENT }, 'GET', '/status')).body.lb;
  const logOf = (name: string): string => fs.readFileSync(path.join(stateDir, 'nodes', name, 'node.log'), 'utf8');
  const active = async (): Promise<{ active: LbName; passive: LbName }> => {
    const a = (await lbStatus('lb-1')).holdsVip ? 'lb-1' : (await lbStatus('lb-2')).holdsVip ? 'lb-2' : undefined;
    assert.ok(a, 'no lb holds the VIP');
    return { active: a, passive: a === 'lb-1' ? 'lb-2' : 'lb-1' };
  };

  before(async () => {
    pebble = await Pebble.start({ dir: path.join(c.dir, 'pebble'), address: PEBBLE, httpPort: HTTP, validitySeconds: VALIDITY_S });
    roots = await pebble.roots();
    fs.writeFileSync(rootsFile, roots);
    fs.writeFileSync(c.file, clusterYaml({ cluster: 'acme-test', directory: pebble.directory, caFile: pebble.caFile, lbs: LBS, web: '127.0.11.11', vip: VIP, agent: AGENT }));
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s']);
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    await pebble?.stop();
    c.cleanup();
  });

  it('the lb holding the VIP gets a certificate from Pebble; curl --cacert <pebble root> to the VIP accepts it', async () => {
    const { active: a } = await eventually(active, { timeoutMs: 15_000 });
    const cert = await eventually(async () => {
      const s = await lbStatus(a);
      assert.equal(s.certificates?.[0]?.source, 'ACME', JSON.stringify(s.certificates));
      return s.certificates[0]!;
    }, { timeoutMs: 30_000, message: 'no ACME certificate on the active lb' });
    assert.match(cert.issuer, /^Pebble Intermediate CA/);
    assert.deepEqual(cert.names, [VIP]);
    const curl = await run('curl', ['-sS', '--cacert', rootsFile, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', `https://${VIP}:${HTTPS}/api/whoami`]);
    assert.equal(curl.out, '200 0', curl.out);
    const s = await run('openssl', ['s_client', '-connect', `${VIP}:${HTTPS}`, '-CAfile', rootsFile, '-verify_return_error']);
    assert.match(s.out, /issuer=CN ?= ?Pebble Intermediate CA/);
    assert.match(s.out, /Verify return code: 0 \(ok\)/);
    // One log line per step of the order.
    const log = logOf(a);
    for (const step of ['ACME issuance for 127.0.11.100', 'ACME account https://', 'ACME order placed for 127.0.11.100', 'answering http-01 for 127.0.11.100', 'validated', 'finalized', 'handed to peer lb(s)']) {
      assert.ok(log.includes(step), `no "${step}" line in ${a}'s log`);
    }
  });

  it('the passive lb holds the same certificate (bulwark certs list)', async () => {
    await eventually(async () => {
      const r = await bulwark(['certs', 'list', '--json', '-c', c.file]);
      assert.equal(r.code, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as (Served & { node: string })[];
      assert.deepEqual(rows.map((x) => x.node).sort(), ['lb-1', 'lb-2']);
      assert.ok(rows.every((x) => x.source === 'ACME' && /^Pebble Intermediate CA/.test(x.issuer)), r.stdout);
      assert.equal(rows[0]!.serial, rows[1]!.serial, 'the lbs serve different certificates');
    }, { timeoutMs: 10_000 });
    const table = await bulwark(['status', '-c', c.file]);
    assert.match(table.stdout, /lb-1 +127\.0\.11\.100 +\d{4}-\d\d-\d\d \d\d:\d\dZ +ACME +Pebble Intermediate CA/);
  });

  it('exposes the expiry of the ACME certificate and the issuance counters in /metrics', async () => {
    const { active: a } = await active();
    const { body } = await agentCall<string>(stateDir, { address: LBS[a], agentPort: AGENT }, 'GET', '/metrics');
    const left = metric(body, 'bulwark_tls_certificate_expiry_seconds', { certificate: VIP, source: 'ACME' });
    assert.ok(left !== undefined, `no expiry gauge for the ACME certificate:\n${body.split('\n').filter((l) => l.includes('tls')).join('\n')}`);
    assert.ok(left > 0 && left <= VALIDITY_S, `expiry gauge says ${left}s left of a ${VALIDITY_S}s certificate`);
    const issued = (metric(body, 'bulwark_tls_acme_issued_total', { kind: 'issue' }) ?? 0) + (metric(body, 'bulwark_tls_acme_issued_total', { kind: 'renew' }) ?? 0);
    assert.ok(issued >= 1, `issued: ${issued}`);
    assert.equal(metric(body, 'bulwark_tls_acme_failures_total', { kind: 'issue' }), 0);
  });

  it('challenge tokens can be handed to an lb by its peers only, and its edge answers them', async () => {
    const token = 'TestToken_0123456789-abcdef';
    const keyAuthorization = `${token}.thumbprint`;
    const lb2 = { address: LBS['lb-2'], agentPort: AGENT };
    const spec = { stateDir, cluster: 'acme-test' };
    const asLb = new AgentClient(await nodeCredentials(spec, { name: 'lb-1', role: 'lb', address: LBS['lb-1'] }));
    const asWeb = new AgentClient(await nodeCredentials(spec, { name: 'web-1', role: 'web', address: '127.0.11.11' }));
    try {
      const refused = await asWeb.request(lb2, '/tls/acme/token', { method: 'POST', body: { token, keyAuthorization }, timeoutMs: 2000 });
      assert.equal(refused.status, 403, refused.text);
      const keyRefused = await asWeb.request(lb2, '/tls/acme/certificate', { timeoutMs: 2000 });
      assert.equal(keyRefused.status, 403, 'a web node must not read the certificate key');
      const bad = await asLb.request(lb2, '/tls/acme/token', { method: 'POST', body: { token: '../etc', keyAuthorization: '../etc.x' }, timeoutMs: 2000 });
      assert.equal(bad.status, 400, bad.text);
      const ok = await asLb.request(lb2, '/tls/acme/token', { method: 'POST', body: { token, keyAuthorization }, timeoutMs: 2000 });
      assert.equal(ok.status, 200, ok.text);
      const answer = await fetch(`http://${LBS['lb-2']}:${HTTP}/.well-known/acme-challenge/${token}`, { redirect: 'manual' });
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), keyAuthorization);
      await asLb.request(lb2, '/tls/acme/token', { method: 'POST', body: { token, remove: true }, timeoutMs: 2000 });
      const gone = await fetch(`http://${LBS['lb-2']}:${HTTP}/.well-known/acme-challenge/${token}`, { redirect: 'manual' });
      assert.notEqual(await gone.text(), keyAuthorization);
    } finally {
      asLb.close();
      asWeb.close();
    }
  });

  it('renewal replaces the certificate under a bounded HTTPS load with no failed request', async () => {
    const before = (await servedCertificate(VIP, roots)).serialNumber;
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: roots });
    const worker = async (): Promise<void> => {
      const deadline = Date.now() + 60_000;
      for (let i = 0; i < 20_000 && !stop && Date.now() < deadline; i++) {
        await new Promise<void>((resolve) => {
          // A fresh connection every tenth request, so handshakes happen throughout the renewal.
          const req = https.get({ host: VIP, port: HTTPS, path: '/api/whoami', agent: i % 10 === 0 ? false : agent, ca: roots }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failures.push(`HTTP ${res.statusCode}`);
              resolve();
            });
          });
          req.on('error', (err) => {
            failures.push(err.message);
            resolve();
          });
        });
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    try {
      await eventually(async () => assert.notEqual((await servedCertificate(VIP, roots)).serialNumber, before), { timeoutMs: 40_000, intervalMs: 250, message: 'not renewed' });
      const atSwap = ok;
      await eventually(() => assert.ok(ok > atSwap + 50), { timeoutMs: 10_000 });
    } finally {
      stop = true;
      await Promise.all(workers);
      agent.destroy();
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 100, `only ${ok} requests`);
  });

  let accountBefore: string | null = null;
  let keyHashBefore = '';
  let killed: LbName = 'lb-1';

  it('takeover: with the active lb killed, the other serves the same valid certificate at once, then renews it', async () => {
    const { active: a, passive: p } = await active();
    killed = a;
    accountBefore = (await lbStatus(a)).acme?.account ?? null;
    assert.match(accountBefore ?? '', /^https:\/\/127\.0\.11\.50:14000\/my-account\//);
    keyHashBefore = createHash('sha256').update(fs.readFileSync(path.join(stateDir, 'nodes', a, 'acme', 'account.key'))).digest('hex');
    const k = await bulwark(['kill', a, '-c', c.file]);
    assert.equal(k.code, 0, k.stderr);
    await eventually(async () => assert.equal((await lbStatus(p)).holdsVip, true), { timeoutMs: 10_000 });
    const heldByPassive = (await lbStatus(p)).certificates![0]!;
    const served = await servedCertificate(VIP, roots); // verified against Pebble's root: valid, not expired
    assert.equal(served.serialNumber, heldByPassive.serial);
    assert.match(served.issuer, /Pebble Intermediate CA/);
    // The new holder of the VIP orders the next one itself.
    await eventually(async () => assert.match((await lbStatus(p)).acme?.account ?? '', /my-account/), { timeoutMs: 40_000, intervalMs: 500 });
  });

  it('a restarted lb serves its certificate at once and orders again with the same account key', async () => {
    const r = await bulwark(['start', killed, '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    const s = await eventually(() => lbStatus(killed), { timeoutMs: 10_000 });
    assert.equal(s.certificates?.[0]?.source, 'ACME', 'a restarted lb must not fall back to the stand-in');
    const log = logOf(killed);
    assert.match(log.slice(log.lastIndexOf('ACME account key')), /ACME account key kept at/);
    const keyHash = createHash('sha256').update(fs.readFileSync(path.join(stateDir, 'nodes', killed, 'acme', 'account.key'))).digest('hex');
    assert.equal(keyHash, keyHashBefore);
    // Hand it the VIP back: its next order uses the kept key, so Pebble knows the account.
    // The restarted lb is a ready peer only once it has been healthy for min_hold: until then the
    // active refuses to hand over (409), as it should.
    await eventually(async () => {
      const { active: now } = await active();
      const sw = await agentCall(stateDir, { address: LBS[now], agentPort: AGENT }, 'POST', '/standby/switchover');
      assert.equal(sw.status, 200, JSON.stringify(sw.body));
    }, { timeoutMs: 20_000, intervalMs: 500 });
    await eventually(async () => assert.equal((await lbStatus(killed)).acme?.account, accountBefore), { timeoutMs: 40_000, intervalMs: 500 });
  });
});

describe('edge.tls.source: acme with a directory nobody answers', { skip, timeout: 120_000 }, () => {
  const c = tempCluster('');
  const stateDir = path.join(c.dir, 'state');
  const LB = '127.0.11.21';
  const directory = 'https://127.0.11.51:14999/dir';

  before(async () => {
    fs.writeFileSync(c.file, clusterYaml({ cluster: 'acme-bad', directory, lbs: { 'lb-1': LB }, web: '127.0.11.31', vip: '127.0.11.120', agent: 17712 }));
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s']);
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('says what failed, retries with growing pauses, and keeps serving HTTPS with the stand-in', async () => {
    const log = (): string => fs.readFileSync(path.join(stateDir, 'nodes', 'lb-1', 'node.log'), 'utf8');
    await eventually(() => assert.match(log(), /ACME issuance failed \(attempt 1\), retrying in 10s: the ACME directory https:\/\/127\.0\.11\.51:14999\/dir cannot be reached: ECONNREFUSED/),
      { timeoutMs: 15_000 });
    await eventually(() => assert.match(log(), /ACME issuance failed \(attempt 2\), retrying in 20s/), { timeoutMs: 20_000, intervalMs: 250 });
    const { body } = await agentCall<{ healthy: boolean; lb: LbStatus }>(stateDir, { address: LB, agentPort: 17712 }, 'GET', '/status');
    assert.equal(body.healthy, true);
    assert.ok(body.lb.acme!.failures >= 2);
    assert.match(body.lb.acme!.lastError ?? '', /ECONNREFUSED/);
    assert.match(body.lb.certificates![0]!.source, /cluster CA/);
    const curl = await run('curl', ['-sS', '--cacert', path.join(stateDir, 'pki', 'ca.crt'), '-o', '/dev/null', '-w', '%{http_code}', 'https://127.0.11.120:18543/api/whoami']);
    assert.equal(curl.out, '200');
    const metrics = await agentCall<string>(stateDir, { address: LB, agentPort: 17712 }, 'GET', '/metrics');
    assert.ok((metric(metrics.body, 'bulwark_tls_acme_failures_total', { kind: 'issue' }) ?? 0) >= 2);
  });
});
