import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RiseFall } from '../../src/data-plane/health/index.js';

// Each case feeds results ('+' success, '-' failure) and lists the state after each one, plus the
// transitions record() reported ('.' for none, 'U' up, 'D' down).
const cases: { name: string; rise: number; fall: number; seq: string; states: string; events: string }[] = [
  { name: 'first success is up at once', rise: 3, fall: 3, seq: '+', states: 'U', events: 'U' },
  { name: 'first failure is down at once', rise: 3, fall: 3, seq: '-', states: 'D', events: 'D' },
  { name: 'up needs fall failures in a row', rise: 2, fall: 3, seq: '+---', states: 'UUUD', events: 'U..D' },
  { name: 'a success breaks the failure streak', rise: 2, fall: 3, seq: '+--+--', states: 'UUUUUU', events: 'U.....' },
  { name: 'down needs rise successes in a row', rise: 2, fall: 3, seq: '-++', states: 'DDU', events: 'D.U' },
  { name: 'a failure breaks the success streak', rise: 3, fall: 2, seq: '-++-++', states: 'DDDDDD', events: 'D.....' },
  { name: 'full cycle', rise: 2, fall: 2, seq: '+--++--', states: 'UUDDUUD', events: 'U.D.U.D' },
  { name: 'rise=fall=1 follows every change', rise: 1, fall: 1, seq: '+-+-', states: 'UDUD', events: 'UDUD' },
  { name: 'extra successes while up stay quiet', rise: 2, fall: 2, seq: '++++', states: 'UUUU', events: 'U...' },
  { name: 'extra failures while down stay quiet', rise: 2, fall: 2, seq: '----', states: 'DDDD', events: 'D...' },
];

const letter = { up: 'U', down: 'D', unknown: '?' } as const;

for (const c of cases) {
  test(`RiseFall: ${c.name} (rise=${c.rise} fall=${c.fall} ${c.seq})`, () => {
    const rf = new RiseFall(c.rise, c.fall);
    assert.equal(rf.state, 'unknown');
    let states = '';
    let events = '';
    for (const ch of c.seq) {
      const ev = rf.record(ch === '+');
      states += letter[rf.state];
      events += ev ? letter[ev] : '.';
    }
    assert.equal(states, c.states);
    assert.equal(events, c.events);
  });
}

test('RiseFall counts streaks', () => {
  const rf = new RiseFall(2, 3);
  rf.record(true);
  rf.record(true);
  assert.equal(rf.consecutiveOk, 2);
  assert.equal(rf.consecutiveFail, 0);
  rf.record(false);
  assert.equal(rf.consecutiveOk, 0);
  assert.equal(rf.consecutiveFail, 1);
});

test('RiseFall rejects thresholds below 1', () => {
  assert.throws(() => new RiseFall(0, 1), RangeError);
  assert.throws(() => new RiseFall(1, 0), RangeError);
  assert.throws(() => new RiseFall(1.5, 1), RangeError);
});

test('RiseFall.adopt copies state and streaks under new thresholds', () => {
  const prev = new RiseFall(3, 3);
  prev.record(false); // down
  prev.record(true);
  prev.record(true); // 2 of 3 toward up
  const next = RiseFall.adopt(prev, 2, 3);
  assert.notEqual(next, prev);
  assert.equal(next.state, 'down');
  assert.equal(next.consecutiveOk, 2);
  assert.equal(next.rise, 2);
  // The lowered threshold is already met, so the next success completes the rise.
  assert.equal(next.record(true), 'up');
  assert.equal(prev.state, 'down', 'the original is untouched');
});
