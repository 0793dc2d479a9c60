import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../../src/data-plane/balancer/index.js';
import { all, ctx, servers, spec, type TestServer } from './balancer-helpers.js';

function run(list: TestServer[], n: number, usable: (s: TestServer) => boolean = all): string[] {
  const b = createBalancer(spec('roundrobin'), list);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.pick(ctx(), usable)?.name ?? '-');
  return out;
}

describe('roundrobin (smooth weighted)', () => {
  it('gives nginx’s sequence for weights 5,1,1, repeating every 7 picks', () => {
    const list = [
      { name: 'a', weight: 5, active: 0 },
      { name: 'b', weight: 1, active: 0 },
      { name: 'c', weight: 1, active: 0 },
    ];
    assert.deepEqual(run(list, 14).join(' '), 'a a b a c a a a a b a c a a');
  });

  it('strictly rotates equal weights', () => {
    assert.deepEqual(run(servers([1, 1, 1]), 9).join(' '), 's0 s1 s2 s0 s1 s2 s0 s1 s2');
    assert.deepEqual(run(servers([3, 3]), 6).join(' '), 's0 s1 s0 s1 s0 s1');
  });

  it('rotates over the usable servers only', () => {
    const list = servers([1, 1, 1, 1]);
    assert.deepEqual(run(list, 6, (s) => s !== list[1]).join(' '), 's0 s2 s3 s0 s2 s3');
  });

  it('keeps exact weight proportions over a full cycle', () => {
    const counts = new Map<string, number>();
    for (const name of run(servers([3, 2, 1]), 600)) counts.set(name, (counts.get(name) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { s0: 300, s1: 200, s2: 100 });
  });

  it('continues fairly over the rest when a server fails mid-rotation, and takes it back', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('roundrobin'), list);
    b.pick(ctx(), all);
    b.pick(ctx(), all); // s1 just served; now it fails
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const s = b.pick(ctx(), (x) => x !== list[1])!;
      counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    }
    assert.equal(counts.get('s1'), undefined);
    // s1's leftover credit shifts the phase once (one extra pick for one survivor), never more.
    assert.ok(Math.abs(counts.get('s0')! - counts.get('s2')!) <= 2, JSON.stringify(Object.fromEntries(counts)));
    const back = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const s = b.pick(ctx(), all)!;
      back.set(s.name, (back.get(s.name) ?? 0) + 1);
    }
    for (const name of ['s0', 's1', 's2']) assert.ok(Math.abs(back.get(name)! - 100) <= 2, JSON.stringify(Object.fromEntries(back)));
  });

  it('applies a weight change at once', () => {
    const list = servers([1, 1]);
    const b = createBalancer(spec('roundrobin'), list);
    list[1]!.weight = 3;
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const s = b.pick(ctx(), all)!;
      counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    }
    assert.ok(Math.abs(counts.get('s0')! - 100) <= 1 && Math.abs(counts.get('s1')! - 300) <= 1, JSON.stringify(Object.fromEntries(counts)));
  });
});
