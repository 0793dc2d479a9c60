import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, stickyValue } from '../../src/data-plane/balancer/index.js';
import { all, ctx, names, servers, spec, type TestServer } from './balancer-helpers.js';

const withCookie = (value: string, name = 'bwk_srv') => ctx('192.0.2.9', {}, { [name]: value });

describe('stickyValue', () => {
  it('is a short hash of the name: stable, distinct, and free of the address', () => {
    const v = stickyValue({ name: 'web-1', weight: 1, active: 0 });
    assert.match(v, /^[0-9a-f]{8}$/);
    // Pinned: cookies already in browsers must keep working after an upgrade or restart.
    assert.equal(v, '20758b39');
    assert.equal(stickyValue({ name: 'web-1', weight: 7, active: 3 }), v);
    const values = new Set(Array.from({ length: 1000 }, (_, i) => stickyValue({ name: `web-${i}`, weight: 1, active: 0 })));
    assert.equal(values.size, 1000);
  });
});

describe('sticky', () => {
  it('honours a cookie naming a usable server', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('sticky'), list);
    for (const s of list) for (let i = 0; i < 5; i++) assert.equal(b.pick(withCookie(stickyValue(s)), all), s);
  });

  it('reads the cookie named in the spec', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('sticky', { cookie: 'route' }), list);
    assert.equal(b.pick(withCookie(stickyValue(list[2]!), 'route'), all), list[2]);
    assert.equal(names([1, 2, 3].map(() => b.pick(withCookie(stickyValue(list[2]!)), all))), 's0 s1 s2');
  });

  it('falls back to round-robin over the rest when the cookie’s server is unusable', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('sticky'), list);
    const usable = (s: TestServer) => s !== list[0];
    const got = names(Array.from({ length: 4 }, () => b.pick(withCookie(stickyValue(list[0]!)), usable)));
    assert.equal(got, 's1 s2 s1 s2');
  });

  it('falls back to smooth weighted round-robin on a garbage or absent cookie', () => {
    const list = [
      { name: 'a', weight: 5, active: 0 },
      { name: 'b', weight: 1, active: 0 },
      { name: 'c', weight: 1, active: 0 },
    ];
    const b = createBalancer(spec('sticky'), list);
    const cookies = ['garbage', '', '20758B39', stickyValue({ name: 'gone', weight: 1, active: 0 }), '../../etc', 'x'.repeat(5000), '0'];
    const got = names(cookies.map((c) => b.pick(withCookie(c), all)));
    assert.equal(got, 'a a b a c a a');
    assert.equal(b.pick(ctx(), all), list[0]);
  });

  it('does not disturb the rotation of cookie-less clients', () => {
    const list = servers([1, 1, 1]);
    const b = createBalancer(spec('sticky'), list);
    const seq: (TestServer | undefined)[] = [];
    for (let i = 0; i < 6; i++) {
      seq.push(b.pick(ctx(), all));
      b.pick(withCookie(stickyValue(list[0]!)), all);
    }
    assert.equal(names(seq), 's0 s1 s2 s0 s1 s2');
  });
});
