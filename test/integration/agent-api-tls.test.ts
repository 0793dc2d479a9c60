/**
 * Agent APIs speak mutual TLS (DESIGN.md §5.6: nobody without cluster credentials can call one).
 * A real cluster of two nodes (`bulwark up`): curl and openssl without a client certificate,
 * with one from another cluster's CA, and over plain HTTP are refused at the handshake; the admin
 * certificate may call everything; a node certificate only what its role needs (a web node may
 * read /status, not /metrics or /reload); the monitor may scrape /metrics. A host without the CA
 * key gets a clear error until `bulwark certs issue --out` gives it credentials.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/control-plane/agent-api/index.js';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { TestPki } from '../harness/agent-tls.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';
import { nodeCredentials } from '../../src/control-plane/certs/index.js';

const PORT = 17770;
const MON = { address: '127.0.17.31', agentPort: PORT };
const WEB = { address: '127.0.17.11', agentPort: PORT };
const skip = skipUnlessCi(missing({ tools: ['curl', 'openssl'], why: 'curl and openssl are the real clients of this test' }), 'agent API mutual TLS');

const YAML = `
cluster: mtls
state_dir: state
agent: { port: ${PORT} }
nodes:
  - { name: mon-1, role: monitor, address: ${MON.address} }
  - { name: web-1, role: web, address: ${WEB.address} }
web:
${demoAppYaml(17771)}`;

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
    resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
  }));
}

describe('agent APIs: mutual TLS and per-role access', { skip, timeout: 120_000 }, () => {
  const c = tempCluster(YAML);
  const pki = path.join(c.dir, 'state', 'pki');
  const url = `https://${MON.address}:${PORT}`;
  const stranger = new TestPki('someone-else');
  const clients: AgentClient[] = [];

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '30s']);
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });
  after(async () => {
    for (const cl of clients) cl.close();
    await bulwark(['down', '-c', c.file]);
    stranger.remove();
    c.cleanup();
  });

  it('curl without a client certificate is refused at the handshake; with the admin certificate it gets /status', async () => {
    const none = await run('curl', ['-sS', '--max-time', '5', '--cacert', path.join(pki, 'ca.crt'), `${url}/status`]);
    assert.notEqual(none.code, 0, 'a request without a client certificate was answered');
    assert.match(none.stderr, /alert|certificate required|handshake/i);
    const plain = await run('curl', ['-sS', '--max-time', '5', `http://${MON.address}:${PORT}/status`]);
    assert.ok(plain.code !== 0 || !plain.stdout.includes('"cluster"'), 'plain HTTP got the status');
    const admin = await run('curl', ['-sS', '--max-time', '5', '--cacert', path.join(pki, 'ca.crt'),
      '--cert', path.join(pki, 'admin.crt'), '--key', path.join(pki, 'admin.key'), `${url}/status`]);
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal((JSON.parse(admin.stdout) as { node: string }).node, 'mon-1');
  });

  it('a certificate from another cluster\'s CA is refused (openssl s_client sees the alert)', async () => {
    const foreign = await stranger.admin();
    const dir = stranger.stateDir;
    fs.writeFileSync(path.join(dir, 'f.crt'), foreign.cert);
    fs.writeFileSync(path.join(dir, 'f.key'), foreign.key);
    const viaCurl = await run('curl', ['-sS', '--max-time', '5', '--cacert', path.join(pki, 'ca.crt'),
      '--cert', path.join(dir, 'f.crt'), '--key', path.join(dir, 'f.key'), `${url}/status`]);
    assert.notEqual(viaCurl.code, 0, 'a foreign certificate was answered');
    const s = await run('sh', ['-c', `printf 'GET /status HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -connect ${MON.address}:${PORT} -CAfile ${path.join(pki, 'ca.crt')} -cert ${path.join(dir, 'f.crt')} -key ${path.join(dir, 'f.key')} -quiet 2>&1`]);
    // TLS 1.3 checks the client certificate after the client thinks it is done: openssl sees the alert, a reset or the end of the stream.
    assert.match(s.stdout, /unknown ca|alert|errno=104|connection reset|unexpected eof/i);
    assert.doesNotMatch(s.stdout, /"cluster"/);
    // Our own client says why in words.
    const client = new AgentClient(foreign);
    clients.push(client);
    await assert.rejects(client.request(MON, '/status', { timeoutMs: 3000 }), /does not accept this certificate|unknown ca|certificate/i);
  });

  it('a node certificate calls only what its role needs; the monitor may scrape /metrics', async () => {
    const spec = { stateDir: path.join(c.dir, 'state'), cluster: 'mtls' };
    const web = new AgentClient(await nodeCredentials(spec, { name: 'web-1', role: 'web', address: WEB.address }));
    const mon = new AgentClient(await nodeCredentials(spec, { name: 'mon-1', role: 'monitor', address: MON.address }));
    clients.push(web, mon);
    assert.equal((await web.request(MON, '/status', { timeoutMs: 3000 })).status, 200);
    const metrics = await web.json<{ error: string }>(MON, '/metrics', { timeoutMs: 3000 });
    assert.equal(metrics.status, 403);
    assert.match(metrics.body.error, /GET \/metrics is for admin or monitor certificates; the caller presented web-1 \(web\)/);
    const reload = await web.json<{ error: string }>(MON, '/reload', { method: 'POST', timeoutMs: 3000 });
    assert.equal(reload.status, 403);
    assert.match(reload.body.error, /is for the admin certificate/);
    const scraped = await mon.request(WEB, '/metrics', { timeoutMs: 3000 });
    assert.equal(scraped.status, 200);
    assert.match(scraped.text, /bulwark_node_healthy/);
  });

  it('a host without the CA key: a clear error, then credentials from `certs issue --out`', async () => {
    const host = tempCluster(YAML);
    try {
      fs.mkdirSync(path.join(host.dir, 'state', 'pki'), { recursive: true });
      fs.copyFileSync(path.join(pki, 'ca.crt'), path.join(host.dir, 'state', 'pki', 'ca.crt'));
      const refused = await bulwark(['status', '-c', host.file]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /BWK_CREDENTIALS_MISSING|no certificate for the admin/);
      assert.match(refused.stderr, /bulwark certs issue --admin/);
      const issued = await bulwark(['certs', 'issue', '--admin', '--out', host.dir, '-c', c.file]);
      assert.equal(issued.code, 0, issued.stderr);
      assert.equal(fs.statSync(path.join(host.dir, 'pki', 'admin.key')).mode & 0o777, 0o600);
      fs.cpSync(path.join(host.dir, 'pki'), path.join(host.dir, 'state', 'pki'), { recursive: true });
      const ok = await bulwark(['status', '--json', '-c', host.file]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { nodes: { healthy: boolean }[] }).nodes.length, 2);
      const usage = await bulwark(['certs', 'issue', '-c', c.file]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /exactly one of --node NAME, --admin or --edge/);
    } finally {
      host.cleanup();
    }
  });
});
