import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../../src/data-plane/balancer/index.js';
import { all, ctx, servers, spec, type TestServer } from './balancer-helpers.js';

function picks(list: TestServer[], n: number, usable: (s: TestServer) => boolean = all): string {
  const b = createBalancer(spec('leastconn'), list);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.pick(ctx(), usable)?.name ?? '-');
  return out.join(' ');
}

describe('leastconn', () => {
  it('prefers the server with the fewest active requests', () => {
    const list = servers([1, 1, 1]);
    list[0]!.active = 3;
    list[1]!.active = 1;
    list[2]!.active = 2;
    assert.equal(picks(list, 4), 's1 s1 s1 s1');
  });

  it('compares active / weight', () => {
    const list = servers([2, 1]);
    list[0]!.active = 4; // 4/2 = 2
    list[1]!.active = 3; // 3/1 = 3
    assert.equal(picks(list, 1), 's0');
    list[0]!.active = 8; // 4
    assert.equal(picks(list, 1), 's1');
  });

  it('rotates ties instead of always taking the first', () => {
    assert.equal(picks(servers([1, 1, 1]), 6), 's0 s1 s2 s0 s1 s2');
    const list = servers([1, 1, 1]);
    list[1]!.active = 5;
    assert.equal(picks(list, 4), 's0 s2 s0 s2');
  });

  it('skips unusable servers even when they are the least loaded', () => {
    const list = servers([1, 1, 1]);
    list[1]!.active = 2;
    list[2]!.active = 1;
    assert.equal(picks(list, 3, (s) => s !== list[2]), 's0 s0 s0');
  });

  it('shares idle servers by weight', () => {
    const b = createBalancer(spec('leastconn'), servers([3, 1]));
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const s = b.pick(ctx(), all)!;
      counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { s0: 300, s1: 100 });
  });

  it('spreads concurrent load evenly when picks hold their slot', () => {
    const list = servers([1, 1, 1, 1]);
    const b = createBalancer(spec('leastconn'), list);
    for (let i = 0; i < 40; i++) b.pick(ctx(), all)!.active++;
    assert.deepEqual(list.map((s) => s.active), [10, 10, 10, 10]);
    list[2]!.active = 0; // its requests finished
    for (let i = 0; i < 10; i++) {
      const s = b.pick(ctx(), all)!;
      assert.equal(s.name, 's2');
      s.active++;
    }
  });
});
