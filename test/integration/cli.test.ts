/** The CLI's contract: help for every verb, exit codes 0/1/2, clear errors naming what is wrong. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bulwark, tempCluster } from '../harness/cli.js';

const VERBS = ['up', 'down', 'status', 'agent', 'validate', 'plan', 'kill', 'start', 'drain', 'reload'];

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
    const c = tempCluster(`cluster: bad
nodes:
  - { name: lb-1, role: lb, address: 127.0.9.1 }
  - { name: web-1, role: web, address: 127.0.9.2 }
web:
  app: { command: [node, app.js], port: 3000 }
edge:
  vip: 127.0.9.100
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
