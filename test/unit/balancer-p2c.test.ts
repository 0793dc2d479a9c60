import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../../src/data-plane/balancer/index.js';
import { all, ctx, scripted, seeded, servers, spec } from './balancer-helpers.js';

describe('p2c', () => {
  it('draws two distinct servers and keeps the less loaded one', () => {
    const list = servers([1, 1, 1]);
    list[0]!.active = 3;
    list[1]!.active = 0;
    list[2]!.active = 1;
    // 0.0 → s0; then 0.5 over the remaining {s1, s2} → s2. s2 (1) beats s0 (3).
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.0, 0.5])).pick(ctx(), all)?.name, 's2');
    // 0.9 → s2; then 0.0 over {s0, s1} → s0. s2 (1) beats s0 (3).
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.9, 0.0])).pick(ctx(), all)?.name, 's2');
    // 0.5 → s1; then 0.99 over {s0, s2} → s2. s1 (0) beats s2.
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.5, 0.99])).pick(ctx(), all)?.name, 's1');
  });

  it('keeps the first draw on a tie', () => {
    const list = servers([1, 1]);
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.7, 0.1])).pick(ctx(), all)?.name, 's1');
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.2, 0.1])).pick(ctx(), all)?.name, 's0');
  });

  it('compares active / weight and draws in proportion to weight', () => {
    const list = servers([3, 1]);
    list[0]!.active = 5; // 5/3
    list[1]!.active = 2; // 2/1
    // Running weights 3, 4: 0.74 × 4 = 2.96 → s0, and 0.75 × 4 = 3 → s1.
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.74, 0.0])).pick(ctx(), all)?.name, 's0');
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.75, 0.0])).pick(ctx(), all)?.name, 's0');
    list[0]!.active = 7; // 7/3 > 2
    assert.equal(createBalancer(spec('p2c'), list, scripted([0.1, 0.0])).pick(ctx(), all)?.name, 's1');
  });

  it('draws among usable servers only', () => {
    const list = servers([1, 1, 1]);
    list[0]!.active = 1;
    list[2]!.active = 2;
    // usable {s0, s2}: 0.5 × 2 = 1 → s2; the second draw can only be s0, which wins.
    const b = createBalancer(spec('p2c'), list, scripted([0.5, 0.3]));
    assert.equal(b.pick(ctx(), (s) => s !== list[1])?.name, 's0');
  });

  it('calls random() exactly twice per pick, and not at all with one candidate', () => {
    const list = servers([1, 1, 1]);
    assert.equal(createBalancer(spec('p2c'), list, scripted([])).pick(ctx(), (s) => s === list[1])?.name, 's1');
    let calls = 0;
    const rnd = seeded(3);
    const b = createBalancer(spec('p2c'), list, () => {
      calls++;
      return rnd();
    });
    for (let i = 0; i < 100; i++) b.pick(ctx(), all);
    assert.equal(calls, 200);
  });

  it('copes with random() returning 1 or values just below it', () => {
    const list = servers([1, 2]);
    const b = createBalancer(spec('p2c'), list, scripted([1, 1, 0.9999999999999999, 0.9999999999999999]));
    assert.ok(b.pick(ctx(), all));
    assert.ok(b.pick(ctx(), all));
  });

  it('balances held load across servers', () => {
    const list = servers([1, 1, 1, 1]);
    const b = createBalancer(spec('p2c'), list, seeded(11));
    for (let i = 0; i < 400; i++) b.pick(ctx(), all)!.active++;
    // Two choices keep the spread tight: each server within a few of the 100 mean.
    for (const s of list) assert.ok(Math.abs(s.active - 100) <= 3, list.map((x) => x.active).join(','));
  });
});
