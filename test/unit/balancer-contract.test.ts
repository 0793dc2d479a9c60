/** The contract every policy keeps, run over all five. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, stickyValue } from '../../src/data-plane/balancer/index.js';
import { POLICIES, all, ctx, ip, seeded, servers, spec, type TestServer } from './balancer-helpers.js';

for (const policy of POLICIES) {
  describe(`balancer contract: ${policy}`, () => {
    const make = (list: TestServer[]) => createBalancer(spec(policy), list, seeded(42));

    it('reports its policy', () => {
      assert.equal(make(servers([1])).policy, policy);
    });

    it('never returns an unusable server', () => {
      const list = servers([1, 2, 3, 1, 5]);
      const b = make(list);
      const rnd = seeded(7);
      for (let n = 0; n < 5000; n++) {
        const down = new Set(list.filter(() => rnd() < 0.4));
        // Give every client a cookie naming some server, often a down one, to tempt sticky.
        const target = list[n % list.length]!;
        for (const s of list) s.active = Math.floor(rnd() * 4);
        const picked = b.pick(ctx(ip(n), {}, { bwk_srv: stickyValue(target) }), (s) => !down.has(s));
        if (down.size === list.length) assert.equal(picked, undefined);
        else {
          assert.ok(picked, 'some server must be picked while one is usable');
          assert.ok(!down.has(picked), `picked ${picked.name}, which is unusable`);
        }
      }
    });

    it('returns undefined when no server is usable', () => {
      const list = servers([1, 1, 1]);
      const b = make(list);
      for (let n = 0; n < 20; n++) assert.equal(b.pick(ctx(ip(n)), () => false), undefined);
      assert.equal(make([]).pick(ctx(), all), undefined);
    });

    it('picks every usable server eventually', () => {
      const list = servers([1, 2, 3, 1]);
      const b = make(list);
      const usable = (s: TestServer) => s !== list[1];
      const seen = new Set<TestServer>();
      for (let n = 0; n < 2000; n++) {
        const s = b.pick(ctx(ip(n)), usable);
        assert.ok(s);
        seen.add(s);
      }
      assert.deepEqual([...seen].map((s) => s.name).sort(), ['s0', 's2', 's3']);
    });

    it('never picks a server of weight 0, even one named by the cookie', () => {
      const list = servers([0, 1, 0, 2]);
      const b = make(list);
      for (let n = 0; n < 2000; n++) {
        const s = b.pick(ctx(ip(n), {}, { bwk_srv: stickyValue(list[n % 2 === 0 ? 0 : 2]!) }), all);
        assert.ok(s === list[1] || s === list[3], `picked ${s?.name}`);
      }
      assert.equal(make(servers([0, 0])).pick(ctx(), all), undefined);
    });

    it('honours a weight dropped to 0 after creation', () => {
      const list = servers([1, 1, 1]);
      const b = make(list);
      list[0]!.weight = 0;
      for (let n = 0; n < 1000; n++) {
        const s = b.pick(ctx(ip(n), {}, { bwk_srv: stickyValue(list[0]!) }), all);
        assert.ok(s && s !== list[0], `picked ${s?.name}`);
      }
    });

    it('is not affected by later changes to the array it was given', () => {
      const list = servers([1, 1]);
      const b = make(list);
      list.length = 0;
      assert.ok(b.pick(ctx(), all));
    });
  });
}
