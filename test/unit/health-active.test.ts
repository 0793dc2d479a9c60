import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import {
  ActiveHealthCheck,
  type ProbeResult,
  type ActiveHealthCheckOptions,
} from '../../src/data-plane/health/index.js';

/** Lets probe promises settle; ManualClock time does not move meanwhile. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Call {
  signal: AbortSignal;
  startedAt: number;
  resolve: (r: ProbeResult) => void;
  reject: (err: unknown) => void;
}

/**
 * A scripted probe. `mode` decides each new call: 'ok'/'fail' settle at once, 'hang' leaves the
 * call for the test to settle (or never).
 */
class FakeProbe {
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  failDetail = 'connect ECONNREFUSED';
  readonly calls: Call[] = [];
  active = 0;
  maxActive = 0;
  constructor(private readonly clock: ManualClock) {}
  readonly probe = (signal: AbortSignal): Promise<ProbeResult> => {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const p = new Promise<ProbeResult>((resolve, reject) => {
      this.calls.push({ signal, startedAt: this.clock.now(), resolve, reject });
    }).finally(() => this.active--);
    const call = this.calls.at(-1)!;
    if (this.mode === 'ok') call.resolve({ ok: true, detail: 'HTTP 200', durationMs: 1 });
    if (this.mode === 'fail') call.resolve({ ok: false, detail: this.failDetail, durationMs: 1 });
    return p;
  };
}

function setup(over: Partial<ActiveHealthCheckOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const fake = new FakeProbe(clock);
  const changes: { state: string; reason: string; at: number }[] = [];
  const results: ProbeResult[] = [];
  const hc = new ActiveHealthCheck({
    probe: fake.probe,
    intervalMs: 1000,
    timeoutMs: 500,
    rise: 2,
    fall: 3,
    clock,
    onChange: (state, reason) => changes.push({ state, reason, at: clock.now() }),
    onResult: (r) => results.push(r),
    log: silentLogger(),
    ...over,
  });
  /** Advance and let the probes that started settle. */
  const tick = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await flush();
  };
  return { clock, fake, changes, results, hc, tick, t0: clock.now() };
}

test('ActiveHealthCheck probes at once, then every intervalMs after completion', async () => {
  const { clock, fake, hc, tick, changes, t0 } = setup();
  hc.start();
  hc.start(); // no-op
  assert.equal(fake.calls.length, 1);
  await flush();
  assert.equal(hc.state, 'up');
  assert.deepEqual(changes, [{ state: 'up', reason: 'first check passed', at: t0 }]);
  assert.equal(hc.lastChangeAt, t0);
  assert.equal(clock.pending(), 1, 'only the next-probe timer');
  await tick(999);
  assert.equal(fake.calls.length, 1);
  await tick(1);
  assert.equal(fake.calls.length, 2);
  // Probe completion is async, so advance one interval at a time and let each settle.
  for (let i = 0; i < 5; i++) await tick(1000);
  assert.deepEqual(
    fake.calls.map((c) => c.startedAt - t0),
    [0, 1000, 2000, 3000, 4000, 5000, 6000],
  );
  hc.stop();
});

test('ActiveHealthCheck goes down after exactly `fall` failing intervals', async () => {
  const { fake, hc, tick, changes, t0 } = setup({ fall: 3 });
  hc.start();
  await flush();
  fake.mode = 'fail';
  await tick(1000);
  await tick(1000);
  assert.equal(hc.state, 'up');
  assert.equal(hc.riseFall.consecutiveFail, 2);
  await tick(1000);
  assert.equal(hc.state, 'down');
  assert.equal(hc.lastChangeAt, t0 + 3000);
  assert.deepEqual(changes.at(-1), {
    state: 'down',
    reason: '3 consecutive failures (last: connect ECONNREFUSED)',
    at: t0 + 3000,
  });
  hc.stop();
});

test('ActiveHealthCheck: a dead server is down after the first check and up after `rise`', async () => {
  const { fake, hc, tick, changes, t0 } = setup({ rise: 2 });
  fake.mode = 'fail';
  hc.start();
  await flush();
  assert.equal(hc.state, 'down');
  assert.equal(changes[0]!.reason, 'first check failed (connect ECONNREFUSED)');
  fake.mode = 'ok';
  await tick(1000);
  assert.equal(hc.state, 'down');
  await tick(1000);
  assert.equal(hc.state, 'up');
  assert.deepEqual(changes.at(-1), { state: 'up', reason: '2 consecutive successes', at: t0 + 2000 });
  hc.stop();
});

test('ActiveHealthCheck never overlaps probes on a slow server', async () => {
  const { clock, fake, hc, tick, t0 } = setup({ intervalMs: 1000, timeoutMs: 5000 });
  fake.mode = 'hang';
  hc.start();
  await tick(4000);
  assert.equal(fake.calls.length, 1, 'no second probe while the first is pending');
  fake.calls[0]!.resolve({ ok: true, detail: 'HTTP 200', durationMs: 4000 });
  await flush();
  assert.equal(hc.state, 'up');
  await tick(999);
  assert.equal(fake.calls.length, 1);
  await tick(1);
  assert.equal(fake.calls.length, 2);
  assert.equal(fake.calls[1]!.startedAt, t0 + 5000, 'interval counted from completion');
  assert.equal(fake.maxActive, 1);
  hc.stop();
  assert.equal(clock.pending(), 0);
});

test('ActiveHealthCheck aborts at timeoutMs and counts a probe that never settles as a timeout', async () => {
  const { clock, fake, hc, tick, results, t0 } = setup({ intervalMs: 1000, timeoutMs: 500, fall: 1 });
  fake.mode = 'hang';
  hc.start();
  await tick(499);
  assert.equal(fake.calls[0]!.signal.aborted, false);
  assert.equal(results.length, 0);
  await tick(1);
  assert.equal(fake.calls[0]!.signal.aborted, true);
  assert.deepEqual(results[0], { ok: false, detail: 'timeout after 500ms', durationMs: 500 });
  assert.equal(hc.state, 'down');
  // The hung probe answering late must not count.
  fake.calls[0]!.resolve({ ok: true, detail: 'HTTP 200', durationMs: 9999 });
  await flush();
  assert.equal(results.length, 1);
  assert.equal(hc.riseFall.consecutiveOk, 0);
  // Next probe one interval after the timeout.
  await tick(999);
  assert.equal(fake.calls.length, 1);
  await tick(1);
  assert.equal(fake.calls.length, 2);
  assert.equal(fake.calls[1]!.startedAt, t0 + 1500);
  hc.stop();
  assert.equal(clock.pending(), 0);
});

test('ActiveHealthCheck treats a rejecting or throwing probe as a failure and keeps going', async () => {
  const clock = new ManualClock();
  let n = 0;
  const results: ProbeResult[] = [];
  const hc = new ActiveHealthCheck({
    probe: () => {
      n++;
      if (n === 1) throw new Error('sync boom');
      return Promise.reject(new Error('async boom'));
    },
    intervalMs: 100,
    timeoutMs: 50,
    rise: 1,
    fall: 1,
    clock,
    onResult: (r) => results.push(r),
  });
  hc.start();
  await flush();
  clock.advance(100);
  await flush();
  assert.deepEqual(
    results.map((r) => r.detail),
    ['probe error: sync boom', 'probe error: async boom'],
  );
  assert.equal(hc.state, 'down');
  hc.stop();
});

test('ActiveHealthCheck survives a throwing callback', async () => {
  const { fake, hc, tick } = setup({
    onChange: () => {
      throw new Error('listener bug');
    },
  });
  hc.start();
  await flush();
  assert.equal(hc.state, 'up');
  await tick(1000);
  assert.equal(fake.calls.length, 2);
  hc.stop();
});

test('ActiveHealthCheck.stop leaves no timers, aborts the probe in flight, and is idempotent', async () => {
  const { clock, fake, hc, tick, results } = setup();
  fake.mode = 'hang';
  hc.start();
  assert.equal(clock.pending(), 1, 'the deadline');
  hc.stop();
  assert.equal(fake.calls[0]!.signal.aborted, true);
  assert.equal(clock.pending(), 0);
  hc.stop();
  fake.calls[0]!.resolve({ ok: true, detail: 'HTTP 200', durationMs: 1 });
  await tick(10_000);
  assert.equal(results.length, 0, 'late result ignored');
  assert.equal(clock.pending(), 0);
  assert.equal(fake.calls.length, 1);

  // Between probes, too.
  fake.mode = 'ok';
  hc.start();
  await flush();
  assert.equal(clock.pending(), 1, 'the next-probe timer');
  hc.stop();
  assert.equal(clock.pending(), 0);
  assert.equal(hc.isRunning, false);
});

test('ActiveHealthCheck stopped from inside onChange leaves nothing behind', async () => {
  const clock = new ManualClock();
  let hc: ActiveHealthCheck | undefined = undefined;
  hc = new ActiveHealthCheck({
    probe: async () => ({ ok: true, detail: 'HTTP 200', durationMs: 0 }),
    intervalMs: 100,
    timeoutMs: 50,
    rise: 1,
    fall: 1,
    clock,
    onChange: () => hc!.stop(),
  });
  hc.start();
  await flush();
  assert.equal(hc.state, 'up');
  assert.equal(clock.pending(), 0);
});

test('ActiveHealthCheck adopts an existing RiseFall across a reload', async () => {
  const old = setup({ rise: 3, fall: 2 });
  old.fake.mode = 'fail';
  old.hc.start();
  await flush();
  await old.tick(1000);
  assert.equal(old.hc.state, 'down');
  old.hc.stop();

  const next = setup({ rise: 2, fall: 2, initial: old.hc.riseFall });
  assert.equal(next.hc.state, 'down', 'state is known before the first probe');
  next.hc.start();
  await flush();
  // No "first check" shortcut for an adopted state: one success is not enough with rise=2.
  assert.equal(next.hc.state, 'down');
  assert.equal(next.changes.length, 0);
  await next.tick(1000);
  assert.equal(next.hc.state, 'up');
  assert.equal(next.changes[0]!.reason, '2 consecutive successes');
  next.hc.stop();
});
