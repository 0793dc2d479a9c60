import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { PassiveHealthSpec } from '../../src/config/types.js';
import { PassiveHealth } from '../../src/data-plane/health/index.js';

const spec: PassiveHealthSpec = { enabled: true, consecutiveFailures: 3, ejectMs: 1000, maxEjectMs: 5000, count5xx: true };

function failTimes(p: PassiveHealth, n: number, reason = 'connect ECONNREFUSED'): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(p.failure(reason));
  return out;
}

test('PassiveHealth ejects after consecutiveFailures and for ejectMs', () => {
  const clock = new ManualClock(10_000);
  const p = new PassiveHealth(spec, clock);
  assert.equal(p.isEjected(), false);
  assert.equal(p.ejectedUntil, undefined);
  assert.deepEqual(failTimes(p, 3, 'reset'), [false, false, true]);
  assert.equal(p.isEjected(), true);
  assert.equal(p.ejectedUntil, 11_000);
  assert.equal(p.ejections, 1);
  assert.equal(p.lastReason, 'reset');
  clock.advance(999);
  assert.equal(p.isEjected(), true);
  clock.advance(1);
  assert.equal(p.isEjected(), false);
});

test('PassiveHealth: a success resets the failure streak', () => {
  const p = new PassiveHealth(spec, new ManualClock());
  failTimes(p, 2);
  p.success();
  assert.deepEqual(failTimes(p, 3), [false, false, true]);
});

test('PassiveHealth ignores failures reported while ejected', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth(spec, clock);
  failTimes(p, 3);
  assert.deepEqual(failTimes(p, 10, 'in flight'), Array(10).fill(false));
  assert.equal(p.ejectedUntil, 1000, 'not extended');
  assert.equal(p.lastReason, 'in flight');
  clock.advance(1000);
  // In-flight failures did not pre-load the next ejection: a full streak is needed again.
  assert.deepEqual(failTimes(p, 3), [false, false, true]);
});

test('PassiveHealth doubles consecutive ejections up to maxEjectMs', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth(spec, clock);
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = clock.now();
    assert.equal(failTimes(p, 3).at(-1), true);
    lengths.push(p.ejectedUntil! - start);
    clock.advance(p.ejectedUntil! - start); // back in service; fails again at once
    p.success(); // a success right after return is not a quiet period
  }
  assert.deepEqual(lengths, [1000, 2000, 4000, 5000, 5000]);
  assert.equal(p.ejections, 5);
});

test('PassiveHealth resets the multiplier after a success one quiet period (the last ejection) after return', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth(spec, clock);
  failTimes(p, 3); // 1000ms, ends at 1000
  clock.advance(1000);
  failTimes(p, 3); // 2000ms, ends at 3000
  assert.equal(p.ejectedUntil, 3000);
  assert.equal(p.backoffLevel, 2);
  clock.advance(2000 + 1999); // 3999: one ms short of the 2000ms quiet period
  p.success();
  assert.equal(p.backoffLevel, 2);
  clock.advance(1); // 5000 = 3000 + 2000
  p.failure('sporadic'); // below the threshold: does not block the reset
  p.success();
  assert.equal(p.backoffLevel, 0);
  failTimes(p, 3);
  assert.equal(p.ejectedUntil! - clock.now(), 1000);
});

test('PassiveHealth without a success keeps the multiplier however long the gap', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth(spec, clock);
  failTimes(p, 3);
  clock.advance(60_000);
  failTimes(p, 3);
  assert.equal(p.ejectedUntil! - clock.now(), 2000);
});

test('PassiveHealth disabled never ejects', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth({ ...spec, enabled: false }, clock);
  assert.deepEqual(failTimes(p, 50, 'x'), Array(50).fill(false));
  assert.equal(p.isEjected(), false);
  assert.equal(p.ejections, 0);
  assert.equal(p.lastReason, 'x');
});

test('PassiveHealth rejects a nonsensical spec when enabled', () => {
  const clock = new ManualClock();
  assert.throws(() => new PassiveHealth({ ...spec, consecutiveFailures: 0 }, clock), RangeError);
  assert.throws(() => new PassiveHealth({ ...spec, ejectMs: 0 }, clock), RangeError);
  assert.throws(() => new PassiveHealth({ ...spec, maxEjectMs: 500 }, clock), RangeError);
  assert.doesNotThrow(() => new PassiveHealth({ ...spec, enabled: false, consecutiveFailures: 0 }, clock));
});

test('PassiveHealth.reconfigure applies new limits from the next failure; disabling ends an ejection', () => {
  const clock = new ManualClock();
  const p = new PassiveHealth(spec, clock);
  failTimes(p, 3);
  p.reconfigure({ ...spec, consecutiveFailures: 1, ejectMs: 300, maxEjectMs: 300 });
  assert.equal(p.ejectedUntil, 1000, 'the running ejection keeps its end');
  clock.advance(1000);
  assert.equal(p.failure('x'), true);
  assert.equal(p.ejectedUntil, 1300, 'doubling capped by the new max');
  p.reconfigure({ ...spec, enabled: false });
  assert.equal(p.isEjected(), false);
  assert.throws(() => p.reconfigure({ ...spec, ejectMs: -1 }), RangeError);
});
