/**
 * Alert rules with `for:` on a manual clock (pending, firing, resolved), and notifications with
 * Alertmanager's grouping, group_wait, group_interval, repeat_interval, resolved messages and
 * retries, also on the manual clock. The store is the real in-memory one, fed by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { AlertEngine, fingerprint, type Alert } from '../../src/observability/alerting/engine.js';
import { Notifier, type NotificationLog, type NotificationLogEntry, type WebhookPayload } from '../../src/observability/alerting/notifier.js';
import { fileNotificationLog } from '../../src/observability/alerting/notification-log.js';
import { silentLogger } from '../../src/core/log.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alertRules, type AlertRule } from '../../src/observability/alerting/rules.js';
import { parseExpr } from '../../src/observability/promql/parse.js';
import { SeriesStore } from '../../src/observability/store/series-store.js';
import type { ReceiverSpec } from '../../src/config/types.js';
import { parseClusterText } from '../../src/config/index.js';

const rule = (over: Partial<AlertRule> & { expr: string }): AlertRule => ({
  name: 'NodeDown', forMs: 10_000, severity: 'critical', labels: {}, annotations: { summary: '{{ $labels.node }} is down ({{ $value }})' }, builtIn: true,
  ...over, ast: parseExpr(over.expr),
});

function setup(rules: AlertRule[]) {
  const clock = new ManualClock(1_000_000);
  const store = new SeriesStore({ intervalMs: 1000, ranges: new Map() });
  const engine = new AlertEngine(rules, store, clock);
  const up = (web1: number, web2: number): void => store.ingest('__up__', clock.now(), [
    { name: 'up', labels: { job: 'bulwark', node: 'web-1' }, value: web1 },
    { name: 'up', labels: { job: 'bulwark', node: 'web-2' }, value: web2 },
  ]);
  /** One scrape round per second for `seconds`, evaluating after each. */
  const rounds = (seconds: number, web1: number, web2 = 1) => {
    const transitions = [];
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000);
      up(web1, web2);
      transitions.push(...engine.evaluate());
    }
    return transitions;
  };
  return { clock, store, engine, rounds };
}

describe('alert rules with for:', () => {
  it('is pending until the condition has held for `for`, then fires once; resolves when it stops', () => {
    const { engine, rounds, clock } = setup([rule({ expr: 'up{job="bulwark"} == 0' })]);
    assert.deepEqual(rounds(3, 1), []);
    const start = clock.now() + 1000;
    assert.deepEqual(rounds(10, 0), [], 'pending for 9 s after the first failing round');
    assert.equal(engine.active()[0]?.state, 'pending');
    assert.equal(engine.active()[0]?.activeAt, start);
    const fired = rounds(1, 0);
    assert.equal(fired.length, 1);
    assert.equal(fired[0]!.to, 'firing');
    const a = fired[0]!.alert as Alert;
    assert.equal(a.firedAt! - a.activeAt, 10_000);
    assert.deepEqual(a.labels, { job: 'bulwark', node: 'web-1', alertname: 'NodeDown', severity: 'critical' });
    assert.equal(a.annotations['summary'], 'web-1 is down (0)');
    assert.deepEqual(rounds(5, 0), [], 'fires once');
    const resolved = rounds(1, 1);
    assert.equal(resolved.length, 1);
    assert.equal(resolved[0]!.to, 'resolved');
    assert.deepEqual(engine.active(), []);
  });

  it('forgets a pending alert whose condition stops before `for` (no notification either way)', () => {
    const { engine, rounds } = setup([rule({ expr: 'up == 0' })]);
    assert.deepEqual(rounds(5, 0), []);
    assert.equal(engine.active().length, 1);
    assert.deepEqual(rounds(1, 1), []);
    assert.equal(engine.active().length, 0);
    assert.deepEqual(rounds(9, 0), [], 'the clock starts again');
    assert.equal(rounds(1, 0).length, 0);
    assert.equal(rounds(1, 0).length, 1);
  });

  it('fires at once with for: 0s and keeps one alert per series', () => {
    const { engine, rounds } = setup([rule({ expr: 'up == 0', forMs: 0 })]);
    const t = rounds(1, 0, 0);
    assert.deepEqual(t.map((x) => x.alert.labels['node']).sort(), ['web-1', 'web-2']);
    assert.equal(engine.firing().length, 2);
  });

  it('keeps alerts as they are while a rule cannot be evaluated', () => {
    const { engine, rounds, store, clock } = setup([rule({ expr: 'up == 0', forMs: 0 }), rule({ name: 'Broken', expr: 'x / on(node) y', forMs: 0 })]);
    rounds(1, 0);
    store.ingest('t', clock.now(), [{ name: 'x', labels: { node: 'a', i: '1' }, value: 1 }, { name: 'x', labels: { node: 'a', i: '2' }, value: 1 }, { name: 'y', labels: { node: 'a' }, value: 1 }]);
    engine.evaluate();
    assert.match(engine.errors.get('Broken') ?? '', /many-to-one/);
    assert.equal(engine.firing().length, 1);
  });

  it('carries alerts over a restart (activeAt keeps counting)', () => {
    const a = setup([rule({ expr: 'up == 0' })]);
    a.rounds(6, 0);
    const saved = JSON.parse(JSON.stringify(a.engine.active())) as Alert[];
    const b = setup([rule({ expr: 'up == 0' })]);
    b.clock.advance(a.clock.now() - b.clock.now());
    b.engine.restore(saved);
    assert.equal(b.rounds(4, 0).length, 0);
    assert.equal(b.rounds(1, 0).length, 1, 'fires 10 s after the first failing round before the restart');
  });

  it('fingerprints are stable and depend on every label', () => {
    assert.equal(fingerprint({ a: '1', b: '2' }), fingerprint({ b: '2', a: '1' }));
    assert.notEqual(fingerprint({ a: '1' }), fingerprint({ a: '2' }));
    assert.match(fingerprint({}), /^[0-9a-f]{16}$/);
  });

  it('built-ins apply where the cluster has what they watch, with the file\'s tuning', () => {
    const spec = parseClusterText([
      'cluster: t', 'nodes:', '  - { name: web-1, role: web, address: 127.0.1.11 }', '  - { name: mon-1, role: monitor, address: 127.0.1.31 }',
      'web:', '  app: { command: [node, a.js], port: 3000 }',
      'monitor:', '  rules:', '    - { name: NodeDown, for: 2s, labels: { team: ops } }', '    - { name: DiskNearlyFull, enabled: false }',
      '    - { name: Mine, expr: "up == 0" }',
    ].join('\n'), 'c.yaml');
    const rules = alertRules(spec);
    assert.deepEqual(rules.map((r) => r.name), ['NodeDown', 'NodeUnhealthy', 'CertificateExpiring', 'Mine']);
    assert.equal(rules[0]!.forMs, 2000);
    assert.deepEqual(rules[0]!.labels, { team: 'ops' });
    assert.equal(rules[3]!.severity, 'warning');
  });
});

// ── notifications ───────────────────────────────────────────────────────────────────────────
const receiver = (over: Partial<ReceiverSpec> = {}): ReceiverSpec => ({
  name: 'ops', url: 'http://hook', match: {}, groupBy: ['alertname'], groupWaitMs: 5000, groupIntervalMs: 60_000,
  repeatIntervalMs: 600_000, sendResolved: true, timeoutMs: 1000, retries: 2, ...over,
});

const alert = (node: string, name = 'NodeDown', activeAt = 0): Alert => {
  const labels = { alertname: name, severity: 'critical', node };
  return { rule: name, fingerprint: fingerprint(labels), labels, annotations: { summary: `${node} down` }, severity: 'critical', state: 'firing', activeAt, firedAt: activeAt, value: 0 };
};

function notifier(receivers: ReceiverSpec[], fail = 0, log?: NotificationLog, clock = new ManualClock(0)) {
  const sent: WebhookPayload[] = [];
  let failures = fail;
  const n = new Notifier(receivers, {
    clock, externalUrl: 'https://mon:9443', backoffMs: 1000, ...(log && { log }),
    deliver: async (_r, p) => {
      if (failures > 0) {
        failures--;
        throw new Error('HTTP 500');
      }
      sent.push(p);
    },
  });
  /** Advance the clock second by second, letting deliveries settle. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      clock.advance(1000);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { n, sent, clock, advance };
}

describe('webhook notifications', () => {
  it('waits group_wait, sends one Alertmanager v4 payload per group, and a resolved one', async () => {
    const { n, sent, advance } = notifier([receiver()]);
    n.update([alert('web-1')]);
    await advance(2000);
    n.update([alert('web-1'), alert('web-2')]);
    await advance(2000);
    assert.equal(sent.length, 0, 'group_wait not over');
    await advance(1000);
    assert.equal(sent.length, 1);
    const p = sent[0]!;
    assert.equal(p.version, '4');
    assert.equal(p.status, 'firing');
    assert.equal(p.receiver, 'ops');
    assert.deepEqual(p.groupLabels, { alertname: 'NodeDown' });
    assert.equal(p.groupKey, '{}:{alertname="NodeDown"}');
    assert.deepEqual(p.commonLabels, { alertname: 'NodeDown', severity: 'critical' });
    assert.equal(p.externalURL, 'https://mon:9443');
    assert.deepEqual(p.alerts.map((a) => [a.status, a.labels['node'], a.endsAt]), [['firing', 'web-1', '0001-01-01T00:00:00Z'], ['firing', 'web-2', '0001-01-01T00:00:00Z']]);
    assert.equal(p.alerts[0]!.startsAt, '1970-01-01T00:00:00.000Z');
    assert.match(p.alerts[0]!.fingerprint, /^[0-9a-f]{16}$/);
    assert.match(p.alerts[0]!.generatorURL, /^https:\/\/mon:9443\//);
    // web-1 recovers: the change goes out at the next group_interval, not before.
    n.update([alert('web-2')]);
    await advance(30_000);
    assert.equal(sent.length, 1);
    await advance(30_000);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.status, 'firing');
    assert.deepEqual(sent[1]!.alerts.map((a) => [a.status, a.labels['node']]), [['resolved', 'web-1'], ['firing', 'web-2']]);
    assert.notEqual(sent[1]!.alerts[0]!.endsAt, '0001-01-01T00:00:00Z');
    // All clear: one resolved notification, then nothing more.
    n.update([]);
    await advance(60_000);
    assert.equal(sent.length, 3);
    assert.equal(sent[2]!.status, 'resolved');
    assert.deepEqual(sent[2]!.alerts.map((a) => [a.status, a.labels['node']]), [['resolved', 'web-2']]);
    await advance(600_000);
    assert.equal(sent.length, 3);
  });

  it('repeats a group that still fires after repeat_interval, and only then', async () => {
    const { n, sent, advance } = notifier([receiver({ groupWaitMs: 0, groupIntervalMs: 10_000, repeatIntervalMs: 60_000 })]);
    n.update([alert('web-1')]);
    await advance(1000);
    assert.equal(sent.length, 1);
    await advance(50_000);
    assert.equal(sent.length, 1, 'nothing changed, no repeat yet');
    await advance(10_000);
    assert.equal(sent.length, 2, 'repeated after 60 s');
    assert.deepEqual(sent[1]!.alerts.map((a) => a.labels['node']), ['web-1']);
  });

  it('groups by the receiver\'s labels and honours match and send_resolved', async () => {
    const { n, sent, advance } = notifier([
      receiver({ name: 'per-node', groupBy: ['node'], groupWaitMs: 1000 }),
      receiver({ name: 'db-only', match: { alertname: 'NoPrimary' }, groupWaitMs: 1000, sendResolved: false }),
    ]);
    n.update([alert('web-1'), alert('web-2'), alert('db-1', 'NoPrimary')]);
    await advance(2000);
    const byReceiver = (r: string) => sent.filter((p) => p.receiver === r);
    assert.deepEqual(byReceiver('per-node').map((p) => p.groupLabels['node']).sort(), ['db-1', 'web-1', 'web-2']);
    assert.deepEqual(byReceiver('db-only').map((p) => p.alerts.map((a) => a.labels['alertname'])), [['NoPrimary']]);
    n.update([]);
    await advance(120_000);
    assert.equal(byReceiver('db-only').length, 1, 'send_resolved: false sends no resolved notification');
    assert.equal(byReceiver('per-node').filter((p) => p.status === 'resolved').length, 3);
  });

  it('retries a failed delivery with doubling backoff, then succeeds', async () => {
    const { n, sent, advance } = notifier([receiver({ groupWaitMs: 0, retries: 3 })], 2);
    n.update([alert('web-1')]);
    await advance(1000);
    assert.equal(sent.length, 0, 'first attempt failed');
    await advance(1000);
    assert.equal(sent.length, 0, 'second attempt (after 1 s) failed');
    await advance(2000);
    assert.equal(sent.length, 1, 'third attempt (2 s later) delivered');
  });

  it('gives up after `retries` and carries the alert in the next flush', async () => {
    const { n, sent, advance } = notifier([receiver({ groupWaitMs: 0, groupIntervalMs: 30_000, retries: 1 })], 2);
    n.update([alert('web-1')]);
    await advance(5000);
    assert.equal(sent.length, 0);
    await advance(30_000);
    assert.equal(sent.length, 1, 'the next group_interval sends what was never delivered');
  });
});

describe('notifications across a monitor restart (the notification log)', () => {
  const memoryLog = (): NotificationLog & { entries: NotificationLogEntry[] } => {
    const l = {
      entries: [] as NotificationLogEntry[],
      load: () => JSON.parse(JSON.stringify(l.entries)) as NotificationLogEntry[],
      save: (e: readonly NotificationLogEntry[]) => void (l.entries = JSON.parse(JSON.stringify(e)) as NotificationLogEntry[]),
    };
    return l;
  };
  const r = receiver({ groupWaitMs: 5000, groupIntervalMs: 60_000, repeatIntervalMs: 600_000 });

  it('does not repeat a firing notification after a restart, and says resolved when it ends', async () => {
    const log = memoryLog();
    const before = notifier([r], 0, log);
    before.n.update([alert('web-1')]);
    await before.advance(6000);
    assert.equal(before.sent.length, 1);
    before.n.stop();
    // The monitor restarts 2 minutes later; the engine restores web-1's alert as still firing.
    const after = notifier([r], 0, log, new ManualClock(120_000));
    after.n.update([alert('web-1')]);
    await after.advance(120_000);
    assert.equal(after.sent.length, 0, 'nothing new, and repeat_interval (10 min) is not over');
    after.n.update([]);
    await after.advance(60_000);
    assert.equal(after.sent.length, 1);
    assert.equal(after.sent[0]!.status, 'resolved');
    assert.deepEqual(after.sent[0]!.alerts.map((a) => [a.status, a.labels['node']]), [['resolved', 'web-1']]);
    assert.deepEqual(log.entries, [], 'an all-clear group leaves the log');
  });

  it('an alert that ended while the monitor was down is still reported resolved', async () => {
    const log = memoryLog();
    const before = notifier([r], 0, log);
    before.n.update([alert('web-1'), alert('web-2')]);
    await before.advance(6000);
    before.n.stop();
    const after = notifier([r], 0, log, new ManualClock(60_000));
    after.n.update([alert('web-2')]);
    await after.advance(6000);
    assert.equal(after.sent.length, 1);
    assert.deepEqual(after.sent[0]!.alerts.map((a) => [a.status, a.labels['node']]), [['resolved', 'web-1'], ['firing', 'web-2']]);
  });

  it('a repeat stays due at its time: the last delivery survives the restart', async () => {
    const log = memoryLog();
    const before = notifier([receiver({ groupWaitMs: 0, groupIntervalMs: 10_000, repeatIntervalMs: 60_000 })], 0, log);
    before.n.update([alert('web-1')]);
    await before.advance(1000);
    before.n.stop();
    const after = notifier([receiver({ groupWaitMs: 0, groupIntervalMs: 10_000, repeatIntervalMs: 60_000 })], 0, log, new ManualClock(30_000));
    after.n.update([alert('web-1')]);
    await after.advance(20_000);
    assert.equal(after.sent.length, 0, '50 s after the delivery');
    await after.advance(20_000);
    assert.equal(after.sent.length, 1, 'repeated once 60 s had passed since the delivery before the restart');
  });

  it('lives in a file, replaced whole; an unreadable one is set aside with a warning', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-nflog-'));
    try {
      const file = path.join(dir, 'notifications.json');
      const warnings: string[] = [];
      const logger = silentLogger();
      logger.warn = ((...args: unknown[]) => void warnings.push(String(args.at(-1)))) as typeof logger.warn;
      const l = fileNotificationLog(file, logger);
      assert.deepEqual(l.load(), [], 'no file yet');
      const entry: NotificationLogEntry = { group: 'ops/{}:{}', receiver: 'ops', labels: {}, lastSentAt: 5, sent: [{ status: 'firing', alert: alert('web-1') }] };
      l.save([entry]);
      assert.deepEqual(l.load(), [entry]);
      assert.deepEqual(fs.readdirSync(dir), ['notifications.json'], 'no temporary file left');
      fs.writeFileSync(file, '{"half": ');
      assert.deepEqual(l.load(), []);
      assert.ok(fs.existsSync(`${file}.unreadable`));
      assert.match(warnings.join('\n'), /notifications\.json is unreadable .*starting afresh/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
