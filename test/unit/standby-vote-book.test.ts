/** One voter's rules, on a manual clock. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { VoteBook } from '../../src/control-plane/standby/vote-book.js';
import type { VoteRequest } from '../../src/control-plane/standby/types.js';
import { parseVoteRequest } from '../../src/control-plane/standby/vote-api.js';

const LEASE = 600;
const ask = (candidate: string, over: Partial<VoteRequest> = {}): VoteRequest => ({
  candidate, priority: candidate === 'lb-1' ? 100 : 99, healthy: true, want: 'acquire', leaseMs: LEASE, ...over,
});

/** A book past its start-up silence. */
function warmBook(): { book: VoteBook; clock: ManualClock } {
  const clock = new ManualClock(1_000_000);
  const book = new VoteBook({ voter: 'v', leaseMs: LEASE, freshMs: 200 }, clock);
  clock.advance(LEASE);
  return { book, clock };
}

describe('VoteBook', () => {
  it('grants nothing for one lease after it starts (a grant from before a restart may still run)', () => {
    const clock = new ManualClock(0);
    const book = new VoteBook({ voter: 'v', leaseMs: LEASE, freshMs: 200 }, clock);
    const r = book.handle(ask('lb-1'));
    assert.equal(r.granted, false);
    assert.match(r.note!, /just started/);
    clock.advance(LEASE - 1);
    assert.equal(book.handle(ask('lb-1')).granted, false);
    clock.advance(1);
    assert.equal(book.handle(ask('lb-1')).granted, true);
  });

  it('grants one holder at a time, renews it, and refuses the others until the grant runs out', () => {
    const { book, clock } = warmBook();
    assert.equal(book.handle(ask('lb-2')).granted, true);
    const refused = book.handle(ask('lb-1'));
    assert.equal(refused.granted, false);
    assert.equal(refused.holder, 'lb-2');
    assert.equal(refused.holderExpiresInMs, LEASE);
    clock.advance(500);
    assert.equal(book.handle(ask('lb-2')).granted, true, 'the holder renews');
    clock.advance(LEASE - 1);
    assert.equal(book.handle(ask('lb-1')).granted, false, 'renewed grant still running');
    clock.advance(1);
    // lb-2 has not been heard from for 600 ms > freshMs: lb-1 is the only contender.
    assert.equal(book.handle(ask('lb-1')).granted, true);
  });

  it('gives a free lease to the best fresh candidate: healthy first, then priority', () => {
    const { book, clock } = warmBook();
    book.handle(ask('lb-1', { want: 'observe' }));
    assert.equal(book.handle(ask('lb-2')).granted, true, 'an observer is no contender');
    clock.advance(50);
    assert.equal(book.handle(ask('lb-1')).granted, false, 'held by lb-2');
    book.handle(ask('lb-2', { want: 'release' }));
    assert.equal(book.holder(), undefined, 'released at once');
    const r = book.handle(ask('lb-2'));
    assert.equal(r.granted, false, 'lb-2 asks first, but lb-1 is fresh and ranks higher');
    assert.equal(r.note, 'prefers lb-1');
    // lb-1 grows unhealthy: the healthy lb-2 now comes first despite its lower priority.
    assert.equal(book.handle(ask('lb-1', { healthy: false })).note, 'prefers lb-2');
    assert.equal(book.handle(ask('lb-2')).granted, true);
  });

  it('a free lease goes to the lb that says it is active before a higher priority (a restarted voter keeps the VIP where it is)', () => {
    const clock = new ManualClock(0);
    const book = new VoteBook({ voter: 'v', leaseMs: LEASE, freshMs: 200 }, clock);
    clock.advance(LEASE - 100);
    book.handle(ask('lb-2', { active: true }));
    clock.advance(100);
    assert.equal(book.handle(ask('lb-1')).note, 'prefers lb-2', 'lb-1 ranks higher, but lb-2 holds the lease from the others');
    const r = book.handle(ask('lb-2', { active: true }));
    assert.equal(r.granted, true);
    assert.deepEqual(Object.fromEntries(r.candidates.map((c) => [c.name, c.active ?? false])), { 'lb-1': false, 'lb-2': true });
    // ...but an unhealthy active does not outrank a healthy passive.
    book.handle(ask('lb-2', { want: 'release' }));
    book.handle(ask('lb-2', { active: true, healthy: false }));
    assert.equal(book.handle(ask('lb-1')).granted, true);
  });

  it('observing does not renew, and a stranger to the lease cannot release it', () => {
    const { book, clock } = warmBook();
    assert.equal(book.handle(ask('lb-1')).granted, true);
    book.handle(ask('lb-2', { want: 'release' }));
    assert.equal(book.holder()?.holder, 'lb-1');
    clock.advance(400);
    assert.equal(book.handle(ask('lb-1', { want: 'observe' })).granted, false);
    clock.advance(200);
    assert.equal(book.holder(), undefined, 'the grant ran out: observing did not extend it');
  });

  it('refuses a lease longer than its own (configs out of step could outlive its restart silence)', () => {
    const { book } = warmBook();
    const r = book.handle(ask('lb-1', { leaseMs: LEASE + 1 }));
    assert.equal(r.granted, false);
    assert.match(r.note!, /longer than this voter's 600ms/);
  });

  it('reports each fresh candidate with how long it has been asking and healthy', () => {
    const { book, clock } = warmBook();
    book.handle(ask('lb-1'));
    clock.advance(100);
    book.handle(ask('lb-2', { healthy: false }));
    book.handle(ask('lb-1'));
    clock.advance(100);
    const r = book.handle(ask('lb-1'));
    const byName = Object.fromEntries(r.candidates.map((c) => [c.name, c]));
    assert.deepEqual(byName['lb-1'], { name: 'lb-1', priority: 100, healthy: true, asking: true, seenForMs: 200, healthyForMs: 200 });
    assert.deepEqual(byName['lb-2'], { name: 'lb-2', priority: 99, healthy: false, asking: true, seenForMs: 100, healthyForMs: 0 });
    clock.advance(250);
    const later = book.handle(ask('lb-1'));
    assert.deepEqual(later.candidates.map((c) => c.name), ['lb-1'], 'lb-2 went quiet for longer than freshMs');
    // A gap longer than freshMs restarts lb-1's clock too.
    clock.advance(201);
    assert.equal(book.handle(ask('lb-1')).candidates[0]!.seenForMs, 0);
  });

  it('the vote API takes "active" as an optional boolean and names it when it is anything else', () => {
    const body = { candidate: 'lb-1', priority: 100, healthy: true, want: 'acquire', leaseMs: LEASE };
    assert.equal(parseVoteRequest(body, ['lb-1']).active, undefined);
    assert.equal(parseVoteRequest({ ...body, active: true }, ['lb-1']).active, true);
    assert.throws(() => parseVoteRequest({ ...body, active: 'yes' }, ['lb-1']), /"active" must be true or false/);
  });
});
