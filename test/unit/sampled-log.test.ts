/** SampledLogger: a few lines per key per second, and the count of the rest written when the second ends. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';
import { SampledLogger } from '../../src/core/sampled-log.js';

function setup(perSecond = 2): { clock: ManualClock; sampled: SampledLogger; lines: () => { msg: string; suppressed?: number; reason?: string }[] } {
  const raw: string[] = [];
  // Synchronous destination: each line is in `raw` as soon as it is logged.
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void raw.push(s) } });
  const clock = new ManualClock(10_000);
  return { clock, sampled: new SampledLogger(log, perSecond, clock), lines: () => raw.map((l) => JSON.parse(l) as never) };
}

it('writes perSecond lines per key, and at the end of the second how many more there were', () => {
  const { clock, sampled, lines } = setup(2);
  for (let i = 0; i < 7; i++) sampled.warn('rate-limited', { i }, 'request refused');
  sampled.warn('denied', {}, 'request refused');
  assert.deepEqual(lines().map((l) => l.msg), ['request refused', 'request refused', 'request refused'], 'two of one key, one of the other');
  clock.advance(999);
  assert.equal(lines().length, 3, 'nothing before the second is over');
  clock.advance(1);
  const last = lines().at(-1)!;
  assert.equal(last.msg, '5 more like this suppressed in the last second (rate-limited)');
  assert.deepEqual([last.reason, last.suppressed], ['rate-limited', 5]);
  assert.equal(lines().length, 4, 'no report for a key that held nothing back');
});

it('reports once per second, even when the flood goes on into the next second', () => {
  const { clock, sampled, lines } = setup(1);
  for (let i = 0; i < 3; i++) sampled.warn('k', {}, 'x');
  clock.advance(1000);
  for (let i = 0; i < 4; i++) sampled.warn('k', {}, 'x');
  clock.advance(1000);
  assert.deepEqual(lines().map((l) => l.msg), [
    'x', '2 more like this suppressed in the last second (k)',
    'x', '3 more like this suppressed in the last second (k)',
  ]);
  clock.advance(5000);
  assert.equal(lines().length, 4, 'quiet: nothing more');
  assert.equal(clock.pending(), 0, 'no timer left behind');
});

it('windows follow the clock\'s seconds: a new second starts a new allowance', () => {
  const { clock, sampled, lines } = setup(1);
  clock.advance(900);
  sampled.warn('k', {}, 'a');
  sampled.warn('k', {}, 'b'); // held back
  clock.advance(100); // the second ends: the report
  sampled.warn('k', {}, 'c'); // a new second: written
  assert.deepEqual(lines().map((l) => l.msg), ['a', '1 more like this suppressed in the last second (k)', 'c']);
});
