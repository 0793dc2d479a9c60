/**
 * The CLI's contract: help for every verb, exit codes 0/1/2, clear errors naming what is wrong;
 * and HTTPS out of the box: `bulwark up` on a file with `edge.tls: { source: local }` (the
 * example's default) creates the cluster CA once, serves HTTPS that curl trusts with --cacert,
 * redirects plain HTTP, reports edge.httpsUrl, explains the CA (`certs ca`) and keeps it across
 * a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { caCertPath, caDirOf } from '../../src/control-plane/certs/index.js';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { samplesOf, scrapeNode } from '../harness/metrics.js';

const VERBS = ['up', 'down', 'status', 'agent', 'validate', 'plan', 'kill', 'start', 'drain', 'reload'];

/** The first eight lines of a small cluster file (one lb, one web), up to `edge:` and its VIP. */
const lbAndWeb = (cluster: string): string => `cluster: ${cluster}
nodes:
  - { name: lb-1, role: lb, address: 127.0.9.1 }
  - { name: web-1, role: web, address: 127.0.9.2 }
web:
  app: { command: [node, app.js], port: 3000 }
edge:
  vip: 127.0.9.100`;

describe('bulwark CLI', () => {
  it('--help lists every verb and exits 0', async () => {
    const r = await bulwark(['--help']);
    assert.equal(r.code, 0);
    for (const v of VERBS) assert.match(r.stdout, new RegExp(`^  ${v} `, 'm'), `${v} missing from --help`);
  });

  for (const v of VERBS) {
    it(`${v} --help describes -c and exits 0`, async () => {
      const r = await bulwark([v, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: bulwark ${v}`));
      assert.match(r.stdout, /-c, --config FILE/);
    });
  }

  it('no verb, an unknown verb or an unknown flag: usage and exit 2', async () => {
    const none = await bulwark([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: bulwark <command>/);
    const unknown = await bulwark(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const flag = await bulwark(['status', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--bogus/);
    assert.match(flag.stderr, /Usage: bulwark status/);
    const missing = await bulwark(['kill']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing NODE/);
    const extra = await bulwark(['validate', 'extra']);
    assert.equal(extra.code, 2);
  });

  it('validate: the example is valid; a broken file names the key and file:line:col, exit 1', async () => {
    const ok = await bulwark(['validate', '-c', 'examples/local.yaml']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /is valid: cluster "example", 8 nodes \(2 lb, 3 web, 2 db, 1 monitor\)/);
    const c = tempCluster(`${lbAndWeb('bad')}
  frontends:
    - { name: www, port: 8080, routes: [ { path_prefix: /, backend: nope } ] }
  backends:
    - name: app
      health_check: { interval: fast }
      servers: [ { node: web-1 } ]
`);
    try {
      const bad = await bulwark(['validate', '-c', c.file]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /cluster\.yaml:13:\d+: edge\.backends\[0\]\.health_check\.interval: .*"fast"/);
      assert.match(bad.stderr, /cluster\.yaml:10:\d+: .*backend.*"nope"/);
      assert.match(bad.stderr, /BWK_CONFIG_INVALID/);
    } finally {
      c.cleanup();
    }
    const missing = await bulwark(['validate', '-c', '/nonexistent/cluster.yaml']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/nonexistent\/cluster\.yaml/);
  });

  it('up and validate check the edge.tls files on this machine before anything starts', async () => {
    const c = tempCluster(`${lbAndWeb('files')}
  tls: { source: files, certificates: [ { cert: ./missing.crt, key: ./missing.key } ] }
  frontends:
    - { name: www, port: 8080, https_port: 8443, routes: [ { path_prefix: /, backend: app } ] }
  backends:
    - { name: app, servers: [ { node: web-1 } ] }
`);
    try {
      for (const verb of ['validate', 'up']) {
        const r = await bulwark([verb, '-c', c.file]);
        assert.equal(r.code, 1, `${verb}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /cluster\.yaml:9:\d+: edge\.tls\.certificates\[0\]\.cert: cannot read .*missing\.crt on this machine/, verb);
        assert.match(r.stderr, /BWK_CONFIG_INVALID/, verb);
      }
      assert.equal(fs.existsSync(path.join(c.dir, '.bulwark')), false, 'up started nothing');
    } finally {
      c.cleanup();
    }
  });

  it('plan prints listeners per node, --json is data, unknown node exits 1', async () => {
    const p = await bulwark(['plan', '--node', 'lb-1', '-c', 'examples/local.yaml']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /127\.0\.0\.1:8443 +frontend www \(https\) on the VIP while active/);
    const j = await bulwark(['plan', '--json', '-c', 'examples/local.yaml']);
    const plan = JSON.parse(j.stdout) as { nodes: { node: string; listeners: unknown[] }[] };
    assert.equal(plan.nodes.length, 8);
    const bad = await bulwark(['plan', '--node', 'nope', '-c', 'examples/local.yaml']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /nope/);
  });

  it('firewall verify on a one-machine cluster says why there is nothing to verify', async () => {
    const r = await bulwark(['firewall', 'verify', '-c', 'examples/local.yaml']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /every node of "example" is on a loopback address of this machine.*\[BWK_FIREWALL_ONE_HOST\]/);
  });

  it('verbs that need a running cluster say so', async () => {
    const c = tempCluster(`cluster: idle
nodes: [ { name: web-1, role: web, address: 127.0.9.2 } ]
web: { app: { command: [node, app.js], port: 3000 } }
`);
    try {
      const k = await bulwark(['kill', 'web-1', '-c', c.file]);
      assert.equal(k.code, 1);
      assert.match(k.stderr, /no local cluster is running/);
      const s = await bulwark(['status', '-c', c.file]);
      assert.equal(s.code, 1);
      assert.match(s.stderr, /no node answered/);
      const d = await bulwark(['down', '-c', c.file]);
      assert.equal(d.code, 1);
    } finally {
      c.cleanup();
    }
  });
});

const TLS_NET = '127.0.13';
const TLS_AGENT = 17713;
const HTTP_PORT = 18013;
const HTTPS_PORT = 18413;
const HTTPS_URL = `https://${TLS_NET}.100:${HTTPS_PORT}`;

/** curl's exit code and what it printed (headers with -D -); never throws. */
function curl(args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', ...args], { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, out: stdout + stderr }));
  });
}

const fingerprint = (file: string): string => new X509Certificate(fs.readFileSync(file)).fingerprint256;

describe('HTTPS out of the box: bulwark up with edge.tls source local', { timeout: 180_000 }, () => {
  const c = tempCluster(`
cluster: tls-up
state_dir: state
agent: { port: ${TLS_AGENT} }
nodes:
  - { name: lb-1,  role: lb,  address: ${TLS_NET}.1 }
  - { name: web-1, role: web, address: ${TLS_NET}.11 }
web:
${demoAppYaml(13013)}edge:
  vip: ${TLS_NET}.100
  tls: { source: local }
  frontends:
    - { name: www, mode: http, port: ${HTTP_PORT}, https_port: ${HTTPS_PORT}, routes: [ { path_prefix: /, backend: app } ] }
  backends:
    - { name: app, health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }, servers: [ { node: web-1 } ] }
`);
  const stateDir = path.join(c.dir, 'state');
  const ca = caCertPath(caDirOf({ stateDir }));
  let upOut = '';

  const up = async (): Promise<string> => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const served = (): Promise<void> => eventually(async () => {
    const r = await curl(['-D', '-', '--cacert', ca, `${HTTPS_URL}/api/whoami`]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^HTTP\/(1\.1|2) 200/, r.out);
    assert.match(r.out, /"node":"web-1"/);
  }, { timeoutMs: 20_000, intervalMs: 250, message: `curl --cacert ${ca} ${HTTPS_URL}/api/whoami` });

  before(async () => {
    assert.equal(fs.existsSync(ca), false, 'a fresh state folder has no CA yet');
    upOut = await up();
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('creates the cluster CA in the state folder and says where the site is', () => {
    assert.ok(fs.existsSync(ca), `no CA at ${ca} after bulwark up`);
    assert.match(upOut, new RegExp(`The site: ${HTTPS_URL.replace(/\./g, '\\.')}/ +\\(try: curl --cacert ${ca.replace(/\./g, '\\.')} `), upOut);
  });

  it('serves HTTPS that curl trusts with --cacert (and only with it); plain HTTP answers 308 to HTTPS', async () => {
    await served();
    const untrusted = await curl([`${HTTPS_URL}/api/whoami`]);
    assert.notEqual(untrusted.code, 0, 'curl without the cluster CA must refuse the certificate');
    const plain = await curl(['-D', '-', '-o', '/dev/null', `http://${TLS_NET}.100:${HTTP_PORT}/api/whoami?x=1`]);
    assert.match(plain.out, /^HTTP\/1\.1 308 /, plain.out);
    assert.match(plain.out, new RegExp(`^location: ${HTTPS_URL.replace(/\./g, '\\.')}/api/whoami\\?x=1\r$`, 'mi'), plain.out);
  });

  it('status --json has edge.httpsUrl; the lb reports its certificate and TLS metrics', async () => {
    const r = await bulwark(['status', '--json', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { edge: { url: string; httpsUrl?: string } };
    assert.equal(s.edge.httpsUrl, HTTPS_URL);
    assert.equal(s.edge.url, `http://${TLS_NET}.100:${HTTP_PORT}`);
    await served();
    const m = await scrapeNode(stateDir, { address: `${TLS_NET}.1`, agentPort: TLS_AGENT });
    const expiry = samplesOf(m, 'bulwark_tls_certificate_expiry_seconds');
    // A 90-day certificate issued moments ago, from the cluster CA.
    assert.ok(expiry.length === 1 && expiry[0]!.value > 89 * 86_400 && expiry[0]!.value <= 90 * 86_400, JSON.stringify(expiry));
    assert.ok(samplesOf(m, 'bulwark_tls_handshakes_total', { frontend: 'www' }).some((x) => x.value > 0), 'no TLS handshake counted');
  });

  it('certs ca prints the CA path and how to trust it: curl --cacert, the system store, a browser', async () => {
    const r = await bulwark(['certs', 'ca', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(ca), r.stdout);
    assert.ok(r.stdout.includes(`--cacert ${ca} ${HTTPS_URL}/`), r.stdout);
    assert.match(r.stdout, /update-ca-certificates/);
    assert.match(r.stdout, /^ +(Firefox|Chromium|Chrome|browser)\b.*(Import|Authorities)/mi);
    const j = await bulwark(['certs', 'ca', '--json', '-c', c.file]);
    assert.equal(j.code, 0, j.stdout + j.stderr);
    assert.equal((JSON.parse(j.stdout) as { path: string }).path, ca);
  });

  it('keeps the same CA across a restart: the old --cacert file still verifies', async () => {
    const before = fingerprint(ca);
    const down = await bulwark(['down', '-c', c.file]);
    assert.equal(down.code, 0, down.stderr);
    await up();
    assert.equal(fingerprint(ca), before, 'bulwark up made a new CA');
    await served();
    const again = await bulwark(['certs', 'ca', '-c', c.file]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(fingerprint(ca), before, 'bulwark certs ca made a new CA');
  });
});
