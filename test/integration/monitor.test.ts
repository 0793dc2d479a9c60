/**
 * The monitor on a real local cluster (127.0.6.x): `bulwark up` with two lbs, two web nodes, a
 * PostgreSQL primary and replica and a monitor scraping every second, with a webhook receiver in
 * this test. Every node serves the metric families issue 7 lists (read over mutual TLS). Kill a
 * web node, the primary and the active lb in turn: each alert reaches the receiver (Alertmanager
 * v4 JSON) within two scrape intervals plus its `for:` (plus group_wait), and resolves after
 * recovery. The history survives a monitor restart, `bulwark status` shows alerts (JSON and the
 * text table) and tolerates a down monitor. Then real Prometheus scrapes every node over mutual
 * TLS with the exported config, and promtool accepts the exported rules.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bulwark, tempCluster } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { eventually } from '../harness/eventually.js';
import { missingFamilies, samplesOf, scrapeNode } from '../harness/metrics.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const SCRAPE_MS = 1000;
const FOR_MS = 2000;
const GROUP_WAIT_MS = 1000;
const AGENT = 17761;
const DASHBOARD = 'https://127.0.6.31:19461';
const HOOK = { host: '127.0.6.200', port: 19462 };
const PROM = { host: '127.0.6.201', port: 19463 };
const VIP = 'http://127.0.6.100:18061';
const NODES = { 'lb-1': 1, 'lb-2': 2, 'web-1': 11, 'web-2': 12, 'db-1': 21, 'db-2': 22, 'mon-1': 31 } as const;

// The families issue 7 lists, by the role that serves them (TYPE as served): a family missing
// here is a metric users were promised and Prometheus would not find.
const PROCESS_FAMILIES = {
  bulwark_process_cpu_seconds_total: 'counter', bulwark_process_resident_memory_bytes: 'gauge',
  bulwark_nodejs_eventloop_lag_seconds: 'gauge', bulwark_process_open_fds: 'gauge',
};
const LB_FAMILIES = {
  bulwark_http_requests_total: 'counter', bulwark_http_request_duration_seconds: 'histogram',
  bulwark_frontend_connections_active: 'gauge', bulwark_backend_server_up: 'gauge', bulwark_backend_retries_total: 'counter',
  bulwark_backend_ejections_total: 'counter', bulwark_backend_queue_requests: 'gauge',
  bulwark_vip_active: 'gauge', bulwark_vip_takeovers_total: 'counter', bulwark_vip_peer_takeovers_total: 'counter',
  bulwark_tls_certificate_expiry_seconds: 'gauge', bulwark_tls_handshakes_total: 'counter', bulwark_tls_handshake_failures_total: 'counter',
  bulwark_edge_refused_total: 'counter',
};
const DB_FAMILIES = {
  bulwark_pg_role: 'gauge', bulwark_pg_timeline: 'gauge', bulwark_pg_connections: 'gauge', bulwark_pg_commits_total: 'counter',
  bulwark_pg_replication_lag_bytes: 'gauge', bulwark_pg_replication_lag_seconds: 'gauge', bulwark_pg_slot_retained_wal_bytes: 'gauge',
  bulwark_pg_sync_standby: 'gauge', bulwark_pg_standby_sync: 'gauge',
};

const yaml = stackYaml({
  cluster: 'mon-test', net: '127.0.6', agentPort: AGENT, appPort: 13061, edgePort: 18061, pgPort: 15461, routerPorts: [16461, 16462],
  // Not on mon-1: the monitor is restarted below and must not take the database with it.
  database: '  dcs: { type: embedded, node: web-2 }\n',
  extra: `monitor:
  port: 19461
  scrape_interval: 1s
  rules:
    - { name: NodeDown, for: 2s }
    - { name: ServerDown, for: 2s }
    # Shorter windows than the built-in 5m, so they also resolve within the test.
    - { name: FailoverHappened, expr: "max(changes(bulwark_pg_timeline[20s])) > 0" }
    - { name: VipTakeover, expr: "sum(increase(bulwark_vip_peer_takeovers_total[20s])) > 0" }
  receivers:
    - { name: hook, url: "http://${HOOK.host}:${HOOK.port}/hook", group_by: ["..."], group_wait: 1s, group_interval: 2s, repeat_interval: 1h }
`,
});

interface Received {
  at: number;
  body: {
    version: string; status: string; receiver: string; groupKey: string; externalURL: string;
    groupLabels: Record<string, string>; commonLabels: Record<string, string>;
    alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; generatorURL: string; fingerprint: string }[];
  };
}

const received: Received[] = [];
let ca = '';

/** The first notification after `since` carrying `alertname` (and `node`) with `status`. */
function notified(since: number, alertname: string, status: 'firing' | 'resolved', node?: string): Received | undefined {
  return received.find((r) => r.at >= since && r.body.alerts.some((a) => a.status === status && a.labels['alertname'] === alertname && (node === undefined || a.labels['node'] === node)));
}

async function waitNotified(since: number, alertname: string, status: 'firing' | 'resolved', node: string | undefined, timeoutMs: number): Promise<Received> {
  return eventually(() => {
    const r = notified(since, alertname, status, node);
    assert.ok(r, `no ${status} ${alertname}${node ? ` for ${node}` : ''} yet; got ${JSON.stringify(received.filter((x) => x.at >= since).map((x) => x.body.alerts.map((a) => `${a.status}:${a.labels['alertname']}:${a.labels['node'] ?? ''}`)))}`);
    return r;
  }, { timeoutMs, intervalMs: 100 });
}

/** Kill `node` (returns when it is dead); on a failure before `restart` runs, start it again so later tests have a whole cluster. */
async function killed<T>(file: string, node: string, fn: (deadAt: number) => Promise<T>): Promise<T> {
  assert.equal((await bulwark(['kill', node, '-c', file])).code, 0);
  // The moment the kill command returns the node is dead: alerts are timed from here.
  const deadAt = Date.now();
  try {
    return await fn(deadAt);
  } catch (err) {
    await bulwark(['start', node, '-c', file]);
    throw err;
  }
}

/**
 * Every node's /metrics, read as the monitor reads it: process metrics everywhere, the edge's,
 * the standby's and the database's families on their roles, every family named bulwark_…, and
 * samples where the settled cluster must have them (traffic went through `active`).
 */
async function everyNodeServesItsFamilies(stateDir: string, active: string, primary: string, replica: string): Promise<string> {
  const problems: string[] = [];
  const scraped = new Map<string, Awaited<ReturnType<typeof scrapeNode>>>();
  for (const [node, host] of Object.entries(NODES)) {
    const e = await scrapeNode(stateDir, { address: `127.0.6.${host}`, agentPort: AGENT });
    scraped.set(node, e);
    const role = node.replace(/-\d+$/, '');
    const want = { ...PROCESS_FAMILIES, ...(role === 'lb' ? LB_FAMILIES : role === 'db' ? DB_FAMILIES : {}) };
    for (const m of missingFamilies(e, want)) problems.push(`${node}: no family ${m}`);
    for (const name of e.types.keys()) if (!name.startsWith('bulwark_')) problems.push(`${node}: family ${name} lacks the bulwark_ prefix`);
    for (const name of ['bulwark_process_resident_memory_bytes', 'bulwark_process_open_fds', 'bulwark_nodejs_eventloop_lag_seconds']) {
      if (samplesOf(e, name).length === 0) problems.push(`${node}: no ${name} sample`);
    }
  }
  const lb = scraped.get(active)!;
  if (!samplesOf(lb, 'bulwark_http_requests_total', { frontend: 'www', code: '2xx' }).some((x) => x.value > 0)) problems.push(`${active}: no 2xx in bulwark_http_requests_total after traffic`);
  if (samplesOf(lb, 'bulwark_http_request_duration_seconds_bucket', { frontend: 'www', le: '+Inf' }).every((x) => x.value === 0)) problems.push(`${active}: empty duration histogram after traffic`);
  for (const server of ['web-1', 'web-2']) {
    if (samplesOf(lb, 'bulwark_backend_server_up', { backend: 'app', server })[0]?.value !== 1) problems.push(`${active}: bulwark_backend_server_up of ${server} is not 1`);
  }
  const holders = ['lb-1', 'lb-2'].filter((n) => samplesOf(scraped.get(n)!, 'bulwark_vip_active')[0]?.value === 1);
  if (holders.join() !== active) problems.push(`bulwark_vip_active is 1 on [${holders.join(', ')}], expected ${active}`);
  const p = scraped.get(primary)!;
  const r = scraped.get(replica)!;
  if (samplesOf(p, 'bulwark_pg_role', { state: 'primary', role: 'db' })[0]?.value !== 1) problems.push(`${primary}: bulwark_pg_role{state="primary",role="db"} is not 1`);
  if (samplesOf(r, 'bulwark_pg_role', { state: 'replica', role: 'db' })[0]?.value !== 1) problems.push(`${replica}: bulwark_pg_role{state="replica",role="db"} is not 1`);
  for (const [node, e] of [[primary, p], [replica, r]] as const) {
    for (const name of ['bulwark_pg_timeline', 'bulwark_pg_connections', 'bulwark_pg_commits_total']) if (samplesOf(e, name).length === 0) problems.push(`${node}: no ${name} sample`);
  }
  for (const name of ['bulwark_pg_replication_lag_bytes', 'bulwark_pg_replication_lag_seconds']) if (samplesOf(r, name).length === 0) problems.push(`${replica}: no ${name} sample`);
  if (samplesOf(r, 'bulwark_pg_sync_standby')[0]?.value !== 1) problems.push(`${replica}: bulwark_pg_sync_standby is not 1 (it is the sync standby)`);
  if (!samplesOf(p, 'bulwark_pg_standby_sync', { standby: replica }).some((x) => x.value === 1)) problems.push(`${primary}: no bulwark_pg_standby_sync for ${replica}`);
  assert.deepEqual(problems, [], `metrics:\n${problems.join('\n')}`);
  return `metric families served: ${[...scraped].map(([n, e]) => `${n} ${e.types.size}`).join(', ')}`;
}

function dashboard<T = any>(pathAndQuery: string): Promise<T> {
  return new Promise((resolve, reject) => {
    https.get(`${DASHBOARD}${pathAndQuery}`, { ca, timeout: 3000 }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as T) : reject(new Error(`${pathAndQuery}: HTTP ${res.statusCode} ${text}`))));
    }).on('error', reject).on('timeout', function (this: http.ClientRequest) { this.destroy(new Error('timeout')); });
  });
}

describe('monitor: alerts, webhooks, history and Prometheus on a real cluster', { timeout: 600_000 }, () => {
  const c = tempCluster(yaml);
  const stateDir = path.join(c.dir, 'state');
  let hook: http.Server;
  let prom: ChildProcess | undefined;
  const promSkip = skipUnlessCi(missing({ tools: ['prometheus', 'promtool'], why: 'the Prometheus export test' }), 'monitor export with Prometheus');
  const status = async (): Promise<any> => JSON.parse((await bulwark(['status', '--json', '-c', c.file])).stdout);

  before(async () => {
    hook = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        received.push({ at: Date.now(), body: JSON.parse(text) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(HOOK.port, HOOK.host, resolve));
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    ca = fs.readFileSync(path.join(stateDir, 'pki', 'ca.crt'), 'utf8');
  });

  after(async () => {
    if (prom?.pid !== undefined && prom.exitCode === null) {
      const p = prom;
      p.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { p.kill('SIGKILL'); resolve(); }, 5000);
        p.once('exit', () => { clearTimeout(t); resolve(); });
      });
    }
    await bulwark(['down', '-c', c.file]);
    await new Promise<void>((resolve) => hook.close(() => resolve()));
    if (process.env['BULWARK_KEEP_STATE'] === '1') console.log(`# state kept in ${c.dir}`);
    else c.cleanup();
  });

  it('settles: every node up, a primary with a sync standby, no alert firing; status shows the monitor and every node its metrics', async (t) => {
    await eventually(async () => {
      const s = await status();
      assert.ok(s.database?.primary, 'no primary yet');
      assert.equal(s.database.syncStandbys.length, 1, 'no sync standby yet');
      assert.ok(s.nodes.every((n: { healthy: boolean }) => n.healthy), `unhealthy: ${s.nodes.filter((n: { healthy: boolean }) => !n.healthy).map((n: { name: string }) => n.name)}`);
      assert.equal(s.monitor?.url, DASHBOARD);
      assert.equal(s.monitor.reachable, true);
      assert.deepEqual(s.alerts, []);
    }, { timeoutMs: 90_000, intervalMs: 500 });
    // Some traffic for the charts, over a few scrapes (a counter's first sample has no rate yet).
    for (let i = 0; i < 40; i++) {
      await fetch(`${VIP}/api/whoami`).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 100));
    }
    const o = await dashboard('/api/overview');
    assert.equal(o.cluster, 'mon-test');
    assert.equal(o.nodes.length, 7);
    assert.ok(o.nodes.every((n: { up: boolean }) => n.up));
    assert.ok(['lb-1', 'lb-2'].includes(o.edge.active));
    assert.equal(o.edge.backends[0].servers.length, 2);
    assert.ok(o.database.primary);
    const replica = o.database.members.find((m: { name: string }) => m.name !== o.database.primary);
    assert.equal(replica.streaming, true);
    // An idle primary: the caught-up replica's lag in seconds is 0, not the age of the last commit.
    await eventually(async () => {
      const ov = await dashboard('/api/overview');
      assert.equal(ov.database.members.find((m: { name: string }) => m.name === replica.name).lagSeconds, 0);
    }, { timeoutMs: 10_000, intervalMs: 250 });
    await eventually(async () => {
      const rps = await dashboard('/api/series?name=requests_per_second&range=120');
      assert.equal(rps.unit, 'req/s');
      assert.ok(rps.series.some((s: { label: string; points: [number, number][] }) => s.label === 'www' && s.points.some((p) => p[1] > 0)), JSON.stringify(rps));
    }, { timeoutMs: 10_000, intervalMs: 250 });
    t.diagnostic(await everyNodeServesItsFamilies(stateDir, o.edge.active as string, o.database.primary as string, replica.name as string));
    received.length = 0;
  });

  it('a dead web node: NodeDown and ServerDown fire in time and resolve after it restarts', async (t) => {
    const a = await killed(c.file, 'web-1', async (killedAt) => {
      // Two scrape intervals plus for:, then group_wait, plus a second for delivery on a busy machine.
      const bound = 2 * SCRAPE_MS + FOR_MS + GROUP_WAIT_MS + 1000;
      const down = await waitNotified(killedAt, 'NodeDown', 'firing', 'web-1', 15_000);
      const server = await waitNotified(killedAt, 'ServerDown', 'firing', undefined, 15_000);
      t.diagnostic(`NodeDown notified after ${down.at - killedAt} ms, ServerDown after ${server.at - killedAt} ms (bound ${bound} ms + health-check fall for ServerDown)`);
      assert.ok(down.at - killedAt <= bound, `NodeDown after ${down.at - killedAt} ms`);
      assert.ok(server.at - killedAt <= bound + 600, `ServerDown after ${server.at - killedAt} ms`);
      // The Alertmanager v4 shape.
      const b = down.body;
      assert.equal(b.version, '4');
      assert.equal(b.receiver, 'hook');
      assert.equal(b.status, 'firing');
      assert.equal(b.externalURL, DASHBOARD);
      const a = b.alerts.find((x) => x.labels['node'] === 'web-1')!;
      assert.deepEqual({ ...a.labels }, { alertname: 'NodeDown', severity: 'critical', cluster: 'mon-test', node: 'web-1', role: 'web', job: 'bulwark', instance: `127.0.6.11:${AGENT}` });
      assert.equal(a.endsAt, '0001-01-01T00:00:00Z');
      assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
      assert.match(a.annotations['summary'] ?? '', /web-1 is down/);
      assert.ok(Date.parse(a.startsAt) >= killedAt - 1000);
      // Status shows it; the event timeline has the node going down.
      const s = await status();
      assert.ok(s.alerts.some((x: { name: string; node: string }) => x.name === 'NodeDown' && x.node === 'web-1'), JSON.stringify(s.alerts));
      // The text form a person reads: the alert table row, with its severity.
      const text = await bulwark(['status', '-c', c.file]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^ {2}ALERT +SEVERITY +NODE +SINCE +SUMMARY *$/m, text.stdout);
      assert.match(text.stdout, /^ {2}NodeDown +CRITICAL +web-1 +\d\d:\d\d:\d\d +.*web-1 is down/m, text.stdout);
      assert.doesNotMatch(text.stdout, /no alerts firing/);
      const ev = await dashboard('/api/events?limit=50');
      assert.ok(ev.events.some((e: { kind: string; node: string }) => e.kind === 'node-down' && e.node === 'web-1'));
      assert.ok(ev.events.some((e: { kind: string; node: string }) => e.kind === 'server-down' && e.node === 'web-1'));
      return a;
    });
    const startedAt = Date.now();
    assert.equal((await bulwark(['start', 'web-1', '-c', c.file])).code, 0);
    const resolved = await waitNotified(startedAt, 'NodeDown', 'resolved', 'web-1', 20_000);
    await waitNotified(startedAt, 'ServerDown', 'resolved', undefined, 20_000);
    const r = resolved.body.alerts.find((x) => x.labels['node'] === 'web-1')!;
    assert.equal(resolved.body.status, 'resolved');
    assert.notEqual(r.endsAt, '0001-01-01T00:00:00Z');
    assert.equal(r.fingerprint, a.fingerprint);
  });

  it('a dead primary: NodeDown and FailoverHappened fire; both resolve after recovery', async (t) => {
    // In sync mode only a sync standby may be promoted: wait until the DCS names one.
    const s = await eventually(async () => {
      const st = await status();
      assert.ok(st.database.primary);
      assert.equal(st.database.syncStandbys.length, 1);
      return st;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const primary = s.database.primary as string;
    await killed(c.file, primary, async (killedAt) => {
      const down = await waitNotified(killedAt, 'NodeDown', 'firing', primary, 15_000);
      assert.ok(down.at - killedAt <= 2 * SCRAPE_MS + FOR_MS + GROUP_WAIT_MS + 1000, `NodeDown after ${down.at - killedAt} ms`);
      const failover = await waitNotified(killedAt, 'FailoverHappened', 'firing', undefined, 30_000);
      t.diagnostic(`${primary} killed: NodeDown after ${down.at - killedAt} ms, FailoverHappened after ${failover.at - killedAt} ms`);
      await eventually(async () => {
        const ev = await dashboard('/api/events?limit=100');
        assert.ok(ev.events.some((e: { kind: string; at: string }) => e.kind === 'failover' && Date.parse(e.at) >= killedAt), JSON.stringify(ev.events.slice(0, 5)));
      }, { timeoutMs: 20_000, intervalMs: 250 });
    });
    const startedAt = Date.now();
    assert.equal((await bulwark(['start', primary, '-c', c.file])).code, 0);
    await waitNotified(startedAt, 'NodeDown', 'resolved', primary, 30_000);
    // The 20 s window of the tuned rule, after the last timeline change (the rejoin's).
    await waitNotified(startedAt, 'FailoverHappened', 'resolved', undefined, 90_000);
  });

  it('a dead active lb: NodeDown and VipTakeover fire; both resolve after recovery', async (t) => {
    const s = await status();
    const active = s.edge.active as string;
    await killed(c.file, active, async (killedAt) => {
      const down = await waitNotified(killedAt, 'NodeDown', 'firing', active, 15_000);
      const takeover = await waitNotified(killedAt, 'VipTakeover', 'firing', undefined, 15_000);
      t.diagnostic(`${active} killed: NodeDown after ${down.at - killedAt} ms, VipTakeover after ${takeover.at - killedAt} ms`);
      assert.ok(down.at - killedAt <= 2 * SCRAPE_MS + FOR_MS + GROUP_WAIT_MS + 1000, `NodeDown after ${down.at - killedAt} ms`);
      // for: 0s, counted from the takeover itself (the lease runs out first: about a second here).
      assert.ok(takeover.at - killedAt <= 2 * SCRAPE_MS + GROUP_WAIT_MS + 2000, `VipTakeover after ${takeover.at - killedAt} ms`);
      const ev = await dashboard('/api/events?limit=100');
      assert.ok(ev.events.some((e: { kind: string; message: string }) => e.kind === 'takeover' && e.message.includes(`from ${active}`)), JSON.stringify(ev.events.slice(0, 6)));
    });
    const startedAt = Date.now();
    assert.equal((await bulwark(['start', active, '-c', c.file])).code, 0);
    await waitNotified(startedAt, 'NodeDown', 'resolved', active, 30_000);
    await waitNotified(startedAt, 'VipTakeover', 'resolved', undefined, 60_000);
  });

  it('promtool accepts the rules and Prometheus scrapes every node over mutual TLS', { skip: promSkip }, async (t) => {
    const out = path.join(c.dir, 'export');
    const ex = await bulwark(['monitor', 'export', '--out', out, '-c', c.file]);
    assert.equal(ex.code, 0, ex.stderr);
    const check = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile('promtool', ['check', 'rules', path.join(out, 'bulwark-rules.yml')], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr })));
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /SUCCESS: 1[0-9] rules found/);
    JSON.parse(fs.readFileSync(path.join(out, 'grafana-dashboard.json'), 'utf8'));
    const log = fs.openSync(path.join(c.dir, 'prometheus.log'), 'w');
    prom = spawn('prometheus', [
      `--config.file=${path.join(out, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(c.dir, 'prom-data')}`,
      `--web.listen-address=${PROM.host}:${PROM.port}`, '--storage.tsdb.retention.time=1h',
    ], { stdio: ['ignore', log, log] });
    const targets = await eventually(async () => {
      const r = await fetch(`http://${PROM.host}:${PROM.port}/api/v1/targets`);
      const body = (await r.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } };
      const active = body.data.activeTargets;
      assert.equal(active.length, 7);
      const notUp = active.filter((x) => x.health !== 'up');
      assert.deepEqual(notUp.map((x) => `${x.labels['node']}: ${x.health} ${x.lastError}`), []);
      return active;
    }, { timeoutMs: 60_000, intervalMs: 500, message: 'Prometheus scraping every node' });
    t.diagnostic(`Prometheus targets up: ${targets.map((x) => x.labels['node']).sort().join(', ')}`);
    // The rules evaluate there too: the ALERTS series exists once a rule has something to say,
    // and the rule groups are loaded with their health.
    const rules = (await (await fetch(`http://${PROM.host}:${PROM.port}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    assert.ok(loaded.length >= 10);
    await eventually(async () => {
      const again = (await (await fetch(`http://${PROM.host}:${PROM.port}/api/v1/rules`)).json()) as typeof rules;
      const bad = again.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
      assert.deepEqual(bad.map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`), []);
    }, { timeoutMs: 20_000, intervalMs: 500 });
  });

  it('keeps its history across a restart; status tolerates a down monitor', async () => {
    const before = await dashboard('/api/events?limit=1000');
    const failover = before.events.find((e: { kind: string }) => e.kind === 'failover');
    assert.ok(failover, 'a failover event before the restart');
    const killedAt = Date.now();
    assert.equal((await bulwark(['kill', 'mon-1', '-c', c.file])).code, 0);
    const down = await bulwark(['status', '--json', '-c', c.file]);
    assert.equal(down.code, 0, 'status works without the monitor');
    const sd = JSON.parse(down.stdout);
    assert.equal(sd.monitor.reachable, false);
    assert.match(sd.monitor.error, /unreachable/);
    assert.deepEqual(sd.alerts, []);
    assert.match((await bulwark(['status', '-c', c.file])).stdout, /monitor https:\/\/127\.0\.6\.31:19461 {2}\(UNREACHABLE/);
    assert.equal((await bulwark(['start', 'mon-1', '-c', c.file])).code, 0);
    const after = await eventually(() => dashboard('/api/events?limit=1000'), { timeoutMs: 20_000, intervalMs: 250 });
    assert.ok(after.events.some((e: { at: string; kind: string; message: string }) => e.at === failover.at && e.message === failover.message), 'the failover event survived');
    const conns = await dashboard('/api/series?name=connections&range=900');
    assert.ok(conns.series.some((s: { label: string; points: [number, number][] }) => s.label === 'www' && s.points.some((p) => p[0] < killedAt - 60_000)), 'chart points from before the restart');
  });
});
