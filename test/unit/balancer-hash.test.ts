import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../../src/data-plane/balancer/index.js';
import { all, ctx, ip, servers, spec, type TestServer } from './balancer-helpers.js';

const KEYS = 10_000;

function mapping(list: readonly TestServer[], usable: (s: TestServer) => boolean = all): string[] {
  const b = createBalancer(spec('hash'), list);
  const out: string[] = [];
  for (let n = 0; n < KEYS; n++) out.push(b.pick(ctx(ip(n)), usable)!.name);
  return out;
}

function shares(map: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of map) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

describe('hash', () => {
  it('sends the same key to the same server, across picks and across instances', () => {
    const list = servers([1, 1, 1, 1]);
    const first = mapping(list);
    assert.deepEqual(mapping(list), first);
    // A restart rebuilds the ring from names: a fresh object set, in another order, agrees.
    const reordered = servers([1, 1, 1, 1]).reverse();
    assert.deepEqual(mapping(reordered), first);
    const b = createBalancer(spec('hash'), list);
    for (let i = 0; i < 50; i++) assert.equal(b.pick(ctx('198.51.100.7'), all), b.pick(ctx('198.51.100.7'), all));
  });

  it('spreads keys across three equal servers within ±10 %', () => {
    const counts = shares(mapping(servers([1, 1, 1])));
    assert.equal(counts.size, 3);
    for (const [name, c] of counts) assert.ok(Math.abs(c / (KEYS / 3) - 1) <= 0.1, `${name}: ${c}`);
  });

  it('spreads keys in proportion to weight', () => {
    const counts = shares(mapping(servers([1, 2])));
    assert.ok(Math.abs(counts.get('s0')! / (KEYS / 3) - 1) <= 0.1, `s0: ${counts.get('s0')}`);
    assert.ok(Math.abs(counts.get('s1')! / ((2 * KEYS) / 3) - 1) <= 0.1, `s1: ${counts.get('s1')}`);
  });

  it('moves only the keys of a removed server, about its share of them', () => {
    const list = servers([1, 1, 1, 1]);
    const before = mapping(list);
    const after = mapping(list.filter((s) => s.name !== 's2'));
    let moved = 0;
    for (let n = 0; n < KEYS; n++) {
      if (before[n] === 's2') moved++;
      else assert.equal(after[n], before[n], `key ${n} moved from ${before[n]} to ${after[n]}`);
    }
    assert.ok(Math.abs(moved / KEYS - 0.25) <= 0.05, `moved ${moved}`);
    // Its keys are shared among all the survivors, not dumped on one neighbour.
    const heirs = new Map<string, number>();
    for (let n = 0; n < KEYS; n++) if (before[n] === 's2') heirs.set(after[n]!, (heirs.get(after[n]!) ?? 0) + 1);
    assert.equal(heirs.size, 3);
    for (const [name, c] of heirs) assert.ok(c / moved > 0.2, `${name} took ${c} of ${moved}`);
  });

  it('walks past an unusable server exactly as if it had been removed', () => {
    const list = servers([1, 2, 1, 1]);
    const without = mapping(list.filter((s) => s !== list[1]));
    assert.deepEqual(mapping(list, (s) => s !== list[1]), without);
  });

  it('hashes a header when asked, falling back to the source address', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('hash', { hashOn: 'header', hashKey: 'X-User' }), list);
    const bySource = createBalancer(spec('hash'), list);
    const seen = new Set<string>();
    for (let u = 0; u < 200; u++) {
      const user = `user-${u}`;
      const s = b.pick(ctx(ip(0), { 'x-user': user }), all)!;
      seen.add(s.name);
      for (let n = 1; n < 5; n++) assert.equal(b.pick(ctx(ip(n * 7919), { 'x-user': user }), all), s);
    }
    assert.equal(seen.size, 3);
    for (let n = 0; n < 200; n++) {
      assert.equal(b.pick(ctx(ip(n)), all), bySource.pick(ctx(ip(n)), all));
      assert.equal(b.pick(ctx(ip(n), { 'x-user': '' }), all), bySource.pick(ctx(ip(n)), all));
    }
  });

  it('hashes a cookie when asked, falling back to the source address', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('hash', { hashOn: 'cookie', hashKey: 'sid' }), list);
    const bySource = createBalancer(spec('hash'), list);
    for (let u = 0; u < 100; u++) {
      const s = b.pick(ctx(ip(1), {}, { sid: `session-${u}` }), all);
      assert.equal(b.pick(ctx(ip(2), {}, { sid: `session-${u}` }), all), s);
    }
    for (let n = 0; n < 200; n++) assert.equal(b.pick(ctx(ip(n), {}, { other: 'x' }), all), bySource.pick(ctx(ip(n)), all));
  });

  it('gives up after asking each server once when none is usable', () => {
    const list = servers([1, 1, 1, 1, 1]);
    const b = createBalancer(spec('hash'), list);
    for (let n = 0; n < 100; n++) {
      let calls = 0;
      const picked = b.pick(ctx(ip(n)), () => {
        calls++;
        return false;
      });
      assert.equal(picked, undefined);
      assert.equal(calls, list.length);
    }
  });
});
