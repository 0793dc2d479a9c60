/** `bulwark up` in the foreground: prints where to connect, shows node logs, Ctrl-C stops every node. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';

it('up in the foreground serves the site and Ctrl-C stops every node', { timeout: 90_000 }, async () => {
  const c = tempCluster(`
cluster: fg-test
state_dir: state
agent: { port: 17701 }
nodes:
  - { name: lb-1,  role: lb,  address: 127.0.4.1 }
  - { name: web-1, role: web, address: 127.0.4.11 }
  - { name: mon-1, role: monitor, address: 127.0.4.31 }
web:
${demoAppYaml(13001)}edge:
  vip: 127.0.4.100
  frontends: [ { name: www, port: 18081, routes: [ { path_prefix: /, backend: app } ] } ]
  backends:
    - { name: app, health_check: { path: /healthz, interval: 300ms, timeout: 250ms }, servers: [ { node: web-1 } ] }
`);
  const up = spawn(process.execPath, [BIN, 'up', '-c', c.file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  up.stdout.on('data', (d) => (out += d));
  up.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  try {
    await eventually(() => assert.match(out, /The site: http:\/\/127\.0\.4\.100:18081\//), { timeoutMs: 60_000, message: out });
    await eventually(() => assert.match(out, /web-1 +app is healthy/)); // node log lines shown as one-liners
    assert.match(out, /mon-1 +monitor: \d+ alert rules, .*scraping 3 nodes/);
    const res = await fetch('http://127.0.4.100:18081/api/whoami');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { node: string }).node, 'web-1');
    const st = JSON.parse((await bulwark(['status', '--json', '-c', c.file])).stdout) as { nodes: { pid: number }[] };
    const pids = st.nodes.map((n) => n.pid);
    assert.equal(pids.length, 3);
    up.kill('SIGINT');
    assert.equal(await exited, 0, out);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `node pid ${pid} survived Ctrl-C`);
    assert.equal(fs.existsSync(path.join(c.dir, 'state', 'control.sock')), false);
    assert.match(out, /all nodes stopped/);
  } finally {
    if (up.exitCode === null) {
      // Ctrl-C, not SIGKILL: `up` must take its nodes down with it even when the test failed.
      up.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (up.exitCode === null) up.kill('SIGKILL');
    }
    c.cleanup();
  }
});
