/**
 * Every built-in alert rule, evaluated as the monitor evaluates it (the real AlertEngine over the
 * real SeriesStore, one scrape round per second on a ManualClock), against samples shaped like
 * what the nodes export: once in a fault where it must fire — not before its `for:`, and not much
 * after it — and once in a look-alike situation where it must stay silent (an idle primary for
 * the lag, a 5xx ratio under the threshold, a certificate far from expiry, a disk with room, a
 * cluster starting up for the failover and takeover rules …). A new built-in without a case here
 * fails the coverage test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILT_IN_ALERTS, type BuiltInAlert } from '../../src/config/schema-monitor.js';
import { parseClusterText } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { AlertEngine, type Alert } from '../../src/observability/alerting/engine.js';
import { alertRules, BUILT_IN_RULES } from '../../src/observability/alerting/rules.js';
import { ReplicationLag } from '../../src/observability/pg-metrics.js';
import { metricRanges } from '../../src/observability/promql/parse.js';
import { SeriesStore, type RawSample } from '../../src/observability/store/series-store.js';
import { upSample } from '../../src/observability/scrape/scraper.js';
import { stackYaml } from '../harness/stack-yaml.js';

const INTERVAL = 1000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const DAY_S = 86_400;
const CLUSTER = 'rules';

const spec = parseClusterText(stackYaml({
  cluster: CLUSTER, net: '127.0.9', agentPort: 7700, appPort: 3000, edgePort: 8080, pgPort: 5432, routerPorts: [6432, 6433],
}), 'rules.yaml');
const ROLE_OF = new Map(spec.nodes.map((n) => [n.name, n.role]));

/** What one round scrapes: target (node, or `__up__` for the up series) → samples, or null (scrape failed). */
type Scrape = Record<string, RawSample[] | null>;

/** A sample of `node`, with the labels every node puts on its metrics. */
function s(node: string, name: string, value: number, labels: Record<string, string> = {}): RawSample {
  return { name, labels: { cluster: CLUSTER, node, role: ROLE_OF.get(node)!, ...labels }, value };
}

/** The `up` series the monitor writes for every node (`down` nodes 0). */
function up(...down: string[]): RawSample[] {
  return spec.nodes.map((n) => upSample(CLUSTER, n, !down.includes(n.name)));
}

/** Cumulative request counters of lb-1's frontend www: `rps` per second, `ratio5xx` of them 5xx, integrated from `from`. */
function requests(tMs: number, from: number, segments: readonly { at: number; rps: number; ratio5xx: number }[]): RawSample[] {
  let ok = 0;
  let bad = 0;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const start = Math.max(seg.at, from);
    const end = Math.min(segments[i + 1]?.at ?? Infinity, tMs);
    if (end <= start) continue;
    const n = (seg.rps * (end - start)) / 1000;
    bad += n * seg.ratio5xx;
    ok += n * (1 - seg.ratio5xx);
  }
  const labels = { frontend: 'www', backend: 'app', server: 'web-1' };
  const out = [s('lb-1', 'bulwark_http_requests_total', Math.round(ok), { ...labels, code: '2xx' })];
  if (bad > 0) out.push(s('lb-1', 'bulwark_http_requests_total', Math.round(bad), { ...labels, code: '5xx' }));
  return out;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** lb-1's duration histogram after `fast` quick (20 ms) and `slow` slow (1.8 s) requests. */
function histogram(fast: number, slow: number): RawSample[] {
  const labels = { frontend: 'www', backend: 'app' };
  const out = BUCKETS.map((le) => s('lb-1', 'bulwark_http_request_duration_seconds_bucket', (le >= 0.025 ? fast : 0) + (le >= 2.5 ? slow : 0), { ...labels, le: String(le) }));
  out.push(s('lb-1', 'bulwark_http_request_duration_seconds_bucket', fast + slow, { ...labels, le: '+Inf' }));
  out.push(s('lb-1', 'bulwark_http_request_duration_seconds_count', fast + slow, labels));
  out.push(s('lb-1', 'bulwark_http_request_duration_seconds_sum', fast * 0.02 + slow * 1.8, labels));
  return out;
}

const serverUp = (lb: string, web1: number, web2: number): RawSample[] => [
  s(lb, 'bulwark_backend_server_up', web1, { backend: 'app', server: 'web-1', backup: 'false' }),
  s(lb, 'bulwark_backend_server_up', web2, { backend: 'app', server: 'web-2', backup: 'false' }),
];

/** A lag scenario on db-2, its value computed as the agent computes it (ReplicationLag). */
function lagScenario(stuckFrom: number | undefined): (t: number) => Scrape {
  const lag = new ReplicationLag();
  const lastCommitBeforeQuiet = T0 - 6 * 3_600_000; // six idle hours before the test starts
  return (t) => {
    // The primary writes at t = 10 s (after six idle hours); a healthy replica replays it within the round.
    const primaryLsn = t >= 10_000 ? 9_000 : 5_000;
    const stuck = stuckFrom !== undefined && t >= stuckFrom;
    const replayLsn = stuck ? 5_000 : t >= 11_000 ? 9_000 : 5_000;
    const replayedAt = replayLsn === 9_000 ? T0 + 10_000 : lastCommitBeforeQuiet;
    const seconds = lag.observe({ primaryLsn, replayLsn, lastReplayedCommitAt: replayedAt, now: T0 + t });
    return {
      'db-2': [
        s('db-2', 'bulwark_pg_replication_lag_bytes', primaryLsn - Math.min(primaryLsn, replayLsn)),
        ...(seconds === undefined ? [] : [s('db-2', 'bulwark_pg_replication_lag_seconds', seconds)]),
      ],
    };
  };
}

interface Case {
  /** The fault starts at t = 0; rounds run from -warmupMs. */
  readonly warmupMs?: number;
  /** How long after the fault the expression can take to return it (rate windows, thresholds crossed later). */
  readonly detectMs?: number;
  readonly fire: (t: number) => Scrape;
  /** The firing alert carries these labels. */
  readonly labels: Record<string, string>;
  readonly quiet: (t: number) => Scrape;
}

const CASES: Record<BuiltInAlert, Case> = {
  NodeDown: {
    fire: (t) => ({ __up__: t >= 0 ? up('web-1') : up(), 'web-1': t >= 0 ? null : [s('web-1', 'bulwark_node_healthy', 1)] }),
    labels: { node: 'web-1', role: 'web', job: 'bulwark', instance: '127.0.9.11:7700', cluster: CLUSTER },
    quiet: () => ({ __up__: up(), 'web-1': [s('web-1', 'bulwark_node_healthy', 1)] }),
  },
  NodeUnhealthy: {
    // db-2's agent answers, its PostgreSQL is stopped: no streaming gauge, pg_up 0, healthy 0.
    fire: (t) => ({
      __up__: up(),
      'db-2': t >= 0
        ? [s('db-2', 'bulwark_node_healthy', 0), s('db-2', 'bulwark_pg_up', 0), s('db-2', 'bulwark_pg_role', 1, { state: 'stopped' })]
        : [s('db-2', 'bulwark_node_healthy', 1), s('db-2', 'bulwark_pg_up', 1), s('db-2', 'bulwark_pg_replica_streaming', 1)],
    }),
    labels: { node: 'db-2', role: 'db' },
    // A replica restarted by its HA loop: unhealthy for 5 s, well inside `for:`.
    quiet: (t) => ({ __up__: up(), 'db-2': [s('db-2', 'bulwark_node_healthy', t >= 0 && t < 5000 ? 0 : 1)] }),
  },
  ServerDown: {
    fire: (t) => ({ 'lb-1': serverUp('lb-1', t >= 0 ? 0 : 1, 1), 'lb-2': serverUp('lb-2', t >= 0 ? 0 : 1, 1) }),
    labels: { backend: 'app', server: 'web-1', cluster: CLUSTER },
    // Only the passive lb's checks fail (its own network): the active one still sends it traffic.
    quiet: (t) => ({ 'lb-1': serverUp('lb-1', 1, 1), 'lb-2': serverUp('lb-2', t >= 0 ? 0 : 1, 1) }),
  },
  BackendNoHealthyServer: {
    fire: (t) => ({ 'lb-1': serverUp('lb-1', t >= 0 ? 0 : 1, t >= 0 ? 0 : 1), 'lb-2': serverUp('lb-2', t >= 0 ? 0 : 1, t >= 0 ? 0 : 1) }),
    labels: { backend: 'app', cluster: CLUSTER },
    // One server of two down: ServerDown's business, not this one's.
    quiet: (t) => ({ 'lb-1': serverUp('lb-1', t >= 0 ? 0 : 1, 1), 'lb-2': serverUp('lb-2', t >= 0 ? 0 : 1, 1) }),
  },
  NoPrimary: {
    // db-1 loses its lock (its PostgreSQL died); db-2 does not take over.
    fire: (t) => ({ 'db-1': [s('db-1', 'bulwark_pg_primary', t >= 0 ? 0 : 1)], 'db-2': [s('db-2', 'bulwark_pg_primary', 0)] }),
    labels: {},
    // A failover: db-2 is primary 3 s after db-1 stopped being it.
    quiet: (t) => ({ 'db-1': [s('db-1', 'bulwark_pg_primary', t >= 0 ? 0 : 1)], 'db-2': [s('db-2', 'bulwark_pg_primary', t >= 3000 ? 1 : 0)] }),
  },
  ReplicaNotStreaming: {
    fire: (t) => ({ 'db-2': [s('db-2', 'bulwark_pg_replica_streaming', t >= 0 ? 0 : 1)] }),
    labels: { node: 'db-2', role: 'db' },
    // Reconnecting to a new primary after a failover: 10 s without streaming.
    quiet: (t) => ({ 'db-2': [s('db-2', 'bulwark_pg_replica_streaming', t >= 0 && t < 10_000 ? 0 : 1)] }),
  },
  ReplicationLagHigh: {
    // The replica stops replaying just before the primary's first write after the quiet spell.
    fire: lagScenario(0),
    detectMs: 45_000,
    labels: { node: 'db-2', role: 'db' },
    // Six idle hours (the last replayed commit is that old), then a write replayed within a second.
    quiet: lagScenario(undefined),
  },
  FailoverHappened: {
    // db-1 (primary, timeline 1) dies; db-2 is promoted onto timeline 2.
    fire: (t) => ({
      'db-1': t >= 0 ? null : [s('db-1', 'bulwark_pg_timeline', 1)],
      'db-2': [s('db-2', 'bulwark_pg_timeline', t >= 0 ? 2 : 1)],
    }),
    labels: {},
    // Bootstrap: db-1 starts on timeline 1, db-2 is cloned and starts later, then restarts once.
    quiet: (t) => ({
      'db-1': t >= 2000 ? [s('db-1', 'bulwark_pg_timeline', 1)] : [s('db-1', 'bulwark_pg_role', 1, { state: 'starting' })],
      'db-2': t >= 20_000 && !(t >= 40_000 && t < 45_000) ? [s('db-2', 'bulwark_pg_timeline', 1)] : [s('db-2', 'bulwark_pg_role', 1, { state: 'stopped' })],
    }),
  },
  VipTakeover: {
    // lb-1 (active) dies; lb-2 takes the VIP over.
    fire: (t) => ({
      'lb-1': t >= 0 ? null : [s('lb-1', 'bulwark_vip_peer_takeovers_total', 0), s('lb-1', 'bulwark_vip_active', 1)],
      'lb-2': [s('lb-2', 'bulwark_vip_peer_takeovers_total', t >= 2000 ? 1 : 0), s('lb-2', 'bulwark_vip_active', t >= 2000 ? 1 : 0)],
    }),
    detectMs: 2000,
    labels: {},
    // Start-up: the lbs' first election is no takeover; lb-2 restarts (its counters start again at 0).
    quiet: (t) => ({
      'lb-1': [s('lb-1', 'bulwark_vip_peer_takeovers_total', 0), s('lb-1', 'bulwark_vip_active', t >= 1000 ? 1 : 0)],
      'lb-2': t >= 30_000 && t < 33_000 ? null : [s('lb-2', 'bulwark_vip_peer_takeovers_total', 0), s('lb-2', 'bulwark_vip_active', 0)],
    }),
  },
  Http5xxRatioHigh: {
    warmupMs: 120_000,
    detectMs: 120_000,
    // 1% errors, then 10% from t = 0.
    fire: (t) => ({ 'lb-1': requests(t, -120_000, [{ at: -120_000, rps: 100, ratio5xx: 0.01 }, { at: 0, rps: 100, ratio5xx: 0.1 }]) }),
    labels: { frontend: 'www', cluster: CLUSTER },
    // 3% errors from t = 0: bad, but under the 5% threshold.
    quiet: (t) => ({ 'lb-1': requests(t, -120_000, [{ at: -120_000, rps: 100, ratio5xx: 0.01 }, { at: 0, rps: 100, ratio5xx: 0.03 }]) }),
  },
  P99LatencyHigh: {
    warmupMs: 300_000,
    // 5% slow from t = 0 exceeds 1% of the 5-minute window after a minute.
    detectMs: 90_000,
    // 100 req/s at 20 ms, then 5 of them take 1.8 s (a slow dependency).
    fire: (t) => {
      const n = Math.round((t + 300_000) / 1000) * 100;
      const slow = t >= 0 ? Math.round(t / 1000) * 5 : 0;
      return { 'lb-1': histogram(n - slow, slow) };
    },
    labels: { frontend: 'www', cluster: CLUSTER },
    // 0.5% slow: p99 stays in the fast bucket.
    quiet: (t) => {
      const n = Math.round((t + 300_000) / 1000) * 200;
      const slow = Math.round((t + 300_000) / 1000);
      return { 'lb-1': histogram(n - slow, slow) };
    },
  },
  CertificateExpiring: {
    // An ACME renewal keeps failing: 13 days left and counting down.
    fire: (t) => ({
      'lb-1': [s('lb-1', 'bulwark_tls_certificate_expiry_seconds', Math.floor((t >= 0 ? 13 * DAY_S : 20 * DAY_S) - t / 1000), { certificate: 'www.example.test', source: 'acme' })],
      'web-1': [s('web-1', 'bulwark_agent_certificate_expiry_seconds', 300 * DAY_S)],
    }),
    labels: { node: 'lb-1', certificate: 'www.example.test', source: 'acme' },
    // Renewed: 60 days left on the served certificate, 300 on the agent's.
    quiet: (t) => ({
      'lb-1': [s('lb-1', 'bulwark_tls_certificate_expiry_seconds', Math.floor(60 * DAY_S - t / 1000), { certificate: 'www.example.test', source: 'acme' })],
      'web-1': [s('web-1', 'bulwark_agent_certificate_expiry_seconds', 300 * DAY_S)],
    }),
  },
  DiskNearlyFull: {
    fire: (t) => ({ 'db-1': disk('db-1', t >= 0 ? 0.06 : 0.5) }),
    labels: { node: 'db-1', path: '/var/lib/bulwark' },
    // 30% free (and shrinking slowly): room enough.
    quiet: (t) => ({ 'db-1': disk('db-1', 0.3 - t / 1e9) }),
  },
};

function disk(node: string, freeRatio: number): RawSample[] {
  const size = 100 * 2 ** 30;
  return [s(node, 'bulwark_disk_size_bytes', size, { path: '/var/lib/bulwark' }), s(node, 'bulwark_disk_available_bytes', Math.round(size * freeRatio), { path: '/var/lib/bulwark' })];
}

/** Runs one scenario round by round from -warmup to `endMs`; every firing with its time since the fault. */
function run(name: BuiltInAlert, scenario: (t: number) => Scrape, warmupMs: number, endMs: number) {
  const rule = alertRules(spec).find((r) => r.name === name);
  assert.ok(rule, `${name} applies to a cluster with lbs and a database`);
  const clock = new ManualClock(T0 - warmupMs);
  const store = new SeriesStore({ intervalMs: INTERVAL, ranges: metricRanges(rule.ast) });
  const engine = new AlertEngine([rule], store, clock);
  const fired: { t: number; alert: Alert }[] = [];
  for (let t = -warmupMs; t <= endMs; t += INTERVAL) {
    for (const [target, samples] of Object.entries(scenario(t))) store.ingest(target, clock.now(), samples);
    for (const tr of engine.evaluate(clock.now())) if (tr.to === 'firing') fired.push({ t, alert: tr.alert as Alert });
    clock.advance(INTERVAL);
  }
  assert.equal(engine.errors.get(name), undefined, `${name} evaluates without error`);
  return { rule, fired, activeAtEnd: engine.active() };
}

describe('every built-in alert rule', () => {
  it('has a fire and a quiet case here', () => {
    assert.deepEqual(Object.keys(CASES).sort(), [...BUILT_IN_ALERTS].sort());
    assert.deepEqual(Object.keys(BUILT_IN_RULES).sort(), [...BUILT_IN_ALERTS].sort());
  });

  for (const name of BUILT_IN_ALERTS) {
    const c = CASES[name];
    const forMs = BUILT_IN_RULES[name].forMs;
    const detect = c.detectMs ?? INTERVAL;
    const end = forMs + detect + 3 * INTERVAL;

    it(`${name} fires after its for: (${forMs / 1000}s) in a fault`, () => {
      const { fired, rule } = run(name, c.fire, c.warmupMs ?? 5 * INTERVAL, end);
      assert.ok(fired.length > 0, `${name} did not fire within ${end / 1000}s of the fault`);
      const first = fired[0]!;
      assert.ok(first.t >= forMs, `${name} fired ${first.t / 1000}s after the fault, before its for: of ${forMs / 1000}s`);
      assert.ok(first.t <= forMs + detect + INTERVAL, `${name} fired ${first.t / 1000}s after the fault (for: ${forMs / 1000}s, detection up to ${detect / 1000}s)`);
      const want = { ...c.labels, alertname: name, severity: rule.severity };
      for (const [k, v] of Object.entries(want)) assert.equal(first.alert.labels[k], v, `${name}'s label ${k}: ${JSON.stringify(first.alert.labels)}`);
      assert.ok(first.alert.annotations['summary'] && !first.alert.annotations['summary'].includes('{{'), `summary rendered: ${first.alert.annotations['summary']}`);
    });

    it(`${name} stays silent when it must`, () => {
      const { fired, activeAtEnd } = run(name, c.quiet, c.warmupMs ?? 5 * INTERVAL, end);
      assert.deepEqual(fired.map((f) => `${f.t / 1000}s: ${JSON.stringify(f.alert.labels)}`), []);
      assert.deepEqual(activeAtEnd.map((a) => a.state), [], `${name} is not even pending at the end`);
    });
  }
});
