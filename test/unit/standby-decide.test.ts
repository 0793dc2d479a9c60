/** The candidate's pure decisions, scenario by scenario. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, mergeCandidates, wantOf, type StandbyFacts, type StandbyMemory, type StandbyPolicy } from '../../src/control-plane/standby/decide.js';
import { LeaseLedger } from '../../src/control-plane/standby/lease.js';
import type { CandidateSeen } from '../../src/control-plane/standby/types.js';

const NOW = 100_000;
const POLICY: StandbyPolicy = { name: 'lb-2', priority: 90, leaseMs: 600, preempt: false, preemptDelayMs: 5000, minHoldMs: 2000 };
const passive: StandbyMemory = { state: 'passive', since: 0, reason: '', activeSince: -Infinity, holdUntil: -Infinity };
const active: StandbyMemory = { state: 'active', since: 0, reason: '', activeSince: NOW - 10_000, holdUntil: -Infinity };
const peer = (over: Partial<CandidateSeen> = {}): CandidateSeen => ({
  name: 'lb-1', priority: 100, healthy: true, asking: true, seenForMs: 60_000, healthyForMs: 60_000, ...over,
});
const facts = (over: Partial<StandbyFacts> = {}): StandbyFacts => ({
  now: NOW, leaseUntil: NOW + 400, votes: 3, voters: 5, majority: 3, healthy: true, healthDetail: 'ok', others: [], ...over,
});

describe('standby decide()', () => {
  const cases: { name: string; mem: StandbyMemory; f: Partial<StandbyFacts>; policy?: Partial<StandbyPolicy>; to: string | undefined; why?: RegExp; release?: boolean }[] = [
    { name: 'passive with a majority lease takes the VIP', mem: passive, f: {}, to: 'active', why: /lease granted \(3 of 5 voters/ },
    { name: 'passive without a majority stays passive', mem: passive, f: { leaseUntil: -Infinity, votes: 2 }, to: undefined },
    { name: 'active whose lease ran out lets go at once', mem: active, f: { leaseUntil: NOW, votes: 2 }, to: 'passive', why: /lost the lease \(2 of 5/, release: false },
    { name: 'active lets go even inside min_hold when the lease is gone', mem: { ...active, activeSince: NOW - 10 }, f: { leaseUntil: NOW - 1 }, to: 'passive' },
    { name: 'unhealthy active hands over to a healthy peer', mem: active, f: { healthy: false, healthDetail: 'no server up in backend(s) app', others: [peer()] }, to: 'passive', why: /unhealthy \(no server up.*\) while lb-1 is healthy/, release: true },
    { name: 'unhealthy active keeps the VIP when no peer is healthier (something beats nothing)', mem: active, f: { healthy: false, others: [peer({ healthy: false })] }, to: undefined },
    { name: 'a peer that stands back (observing) is not ready', mem: active, f: { healthy: false, others: [peer({ asking: false })] }, to: undefined },
    { name: 'no health hand-over to a peer healthy for less than min_hold (start-up: both come up together)', mem: active, f: { healthy: false, others: [peer({ healthyForMs: 1999 })] }, to: undefined },
    { name: 'min_hold: no health hand-over right after a takeover (flapping guard)', mem: { ...active, activeSince: NOW - 1999 }, f: { healthy: false, others: [peer()] }, to: undefined },
    { name: 'preempt off: a returning higher-priority lb does not take the VIP back', mem: active, f: { others: [peer()] }, to: undefined },
    { name: 'preempt on: the higher-priority lb takes over once healthy for preempt_delay', mem: active, f: { others: [peer()] }, policy: { preempt: true }, to: 'passive', why: /preempted by lb-1 \(priority 100 > 90, healthy for 60s\)/, release: true },
    { name: 'preempt on: not before preempt_delay of health', mem: active, f: { others: [peer({ healthyForMs: 4999 })] }, policy: { preempt: true }, to: undefined },
    { name: 'preempt on: a lower-priority peer does not preempt', mem: active, f: { others: [peer({ priority: 80 })] }, policy: { preempt: true }, to: undefined },
    { name: 'switchover hands over to a ready peer, even inside min_hold', mem: { ...active, activeSince: NOW - 10 }, f: { handOver: 'switchover requested', others: [peer()] }, to: 'passive', why: /switchover requested: handing the VIP to lb-1/, release: true },
    { name: 'switchover with nobody ready does nothing', mem: active, f: { handOver: 'switchover requested', others: [] }, to: undefined },
    { name: 'fault holds until its hold time is over', mem: { ...passive, state: 'fault', holdUntil: NOW + 1 }, f: {}, to: undefined },
    { name: 'fault returns to passive after its hold', mem: { ...passive, state: 'fault', holdUntil: NOW, reason: 'bind failed' }, f: {}, to: 'passive', why: /fault hold over \(bind failed\)/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = decide(c.mem, facts(c.f), { ...POLICY, ...c.policy });
      assert.equal(t?.to, c.to);
      if (c.why) assert.match(t!.reason, c.why);
      if (c.release !== undefined) assert.equal(t!.releaseLease, c.release);
      if (t?.releaseLease) assert.equal(t.holdMs, 1200, 'a step-down stands back for two leases so the peer can take over');
    });
  }

  it('asks for the lease unless standing back', () => {
    assert.equal(wantOf(passive, NOW), 'acquire');
    assert.equal(wantOf({ ...passive, holdUntil: NOW + 1 }, NOW), 'observe');
    assert.equal(wantOf({ ...passive, state: 'fault', holdUntil: NOW + 1 }, NOW), 'observe');
    assert.equal(wantOf(active, NOW), 'acquire');
  });

  it('merges the voters\' views of the others, most favourable first, without itself', () => {
    const merged = mergeCandidates([
      [peer({ healthy: false, seenForMs: 10, healthyForMs: 0 }), peer({ name: 'lb-2' })],
      [peer({ asking: false, seenForMs: 50, healthyForMs: 40 })],
    ], 'lb-2');
    assert.deepEqual(merged, [peer({ healthy: true, asking: true, seenForMs: 50, healthyForMs: 40 })]);
  });
});

describe('LeaseLedger', () => {
  it('counts each grant from when the request was sent, less the safety margin, and needs a majority', () => {
    const l = new LeaseLedger(3, 600, 100);
    l.granted('a', 1000);
    l.granted('b', 1100);
    assert.equal(l.validUntil(), -Infinity, 'two of five is no majority');
    l.granted('c', 1200);
    assert.equal(l.validUntil(), 1500, 'the majority-th latest expiry: a (1000+500)');
    l.granted('d', 1300);
    assert.equal(l.validUntil(), 1600);
    assert.equal(l.votes(1550), 3);
    l.refused('d');
    l.refused('c');
    assert.equal(l.validUntil(), -Infinity);
  });
});
