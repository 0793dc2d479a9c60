/** The edge firewall's rules with explicit time: lists, token bucket, connection cap, bans, proxies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeFirewall } from '../../src/data-plane/edge-firewall/index.js';
import type { EdgeFirewallSpec } from '../../src/config/types.js';

const spec = (over: Partial<EdgeFirewallSpec> = {}): EdgeFirewallSpec => ({ allow: [], deny: [], trustedProxies: [], ...over });

describe('EdgeFirewall', () => {
  it('denies listed subnets (IPv4 and IPv6) before it allows, and with an allow list serves only it', () => {
    const fw = new EdgeFirewall(spec({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.6.6.0/24'] }));
    assert.equal(fw.onAccept('10.1.2.3', 0), undefined);
    assert.equal(fw.onAccept('2001:db8::7', 0), undefined);
    assert.equal(fw.onAccept('10.6.6.6', 0)?.reason, 'denied');
    assert.equal(fw.onAccept('192.0.2.1', 0)?.reason, 'not-allowed');
    assert.equal(fw.onAccept('2001:db9::1', 0)?.status, 403);
  });

  it('rate-limits per client with a token bucket: burst, refill, Retry-After', () => {
    const fw = new EdgeFirewall(spec({ rateLimit: { perSecond: 2, burst: 3 } }));
    for (let i = 0; i < 3; i++) assert.equal(fw.onRequest('a', false, 0), undefined);
    const v = fw.onRequest('a', false, 0);
    assert.deepEqual([v?.status, v?.reason, v?.retryAfterS], [429, 'rate-limited', 1]);
    assert.equal(fw.onRequest('b', false, 0), undefined, 'another client has its own bucket');
    assert.equal(fw.onRequest('a', false, 499)?.status, 429, 'half a second refills < 1 token after the refused try');
    assert.equal(fw.onRequest('a', false, 1000), undefined, 'refilled at 2/s');
  });

  it('caps open connections per client', () => {
    const fw = new EdgeFirewall(spec({ maxConnectionsPerClient: 2 }));
    assert.equal(fw.onAccept('a', 0), undefined);
    assert.equal(fw.onAccept('a', 0), undefined);
    assert.equal(fw.onAccept('a', 0)?.reason, 'too-many-connections');
    fw.onClose('a');
    assert.equal(fw.onAccept('a', 0), undefined);
  });

  it('bans a client refused `after` times within the window, for a while; a ban can be lifted', () => {
    const fw = new EdgeFirewall(spec({ ban: { after: 3, withinMs: 10_000, forMs: 60_000 } }));
    assert.equal(fw.onRefused('a', 429, 0), false);
    assert.equal(fw.onRefused('a', 404, 1), false, 'a 404 is no abuse');
    assert.equal(fw.onRefused('a', 431, 5000), false);
    assert.equal(fw.onRefused('a', 429, 8000), true, 'third within 10 s: banned');
    assert.equal(fw.onAccept('a', 30_000)?.reason, 'banned');
    assert.match(fw.onAccept('a', 30_000)!.message, /for 38s more/);
    assert.deepEqual(fw.bans(30_000), [{ client: 'a', untilMs: 68_000 }]);
    assert.equal(fw.onAccept('a', 68_000), undefined, 'expired');
    assert.equal(fw.onRefused('a', 429, 70_000), false);
    assert.equal(fw.onRefused('a', 429, 79_000), false);
    assert.equal(fw.onRefused('a', 429, 80_001), false, 'the first of these left the window: still two');
    assert.equal(fw.onRefused('a', 429, 85_000), true);
    assert.equal(fw.lift('a', 90_003), true);
    assert.equal(fw.lift('a', 90_003), false);
    assert.equal(fw.onAccept('a', 90_004), undefined);
  });

  it('behind trusted proxies judges the address they name, never the proxy', () => {
    const fw = new EdgeFirewall(spec({ trustedProxies: ['10.0.0.0/8'], deny: ['203.0.113.0/24'], rateLimit: { perSecond: 1, burst: 1 } }));
    assert.equal(fw.onAccept('10.0.0.5', 0), undefined, 'the proxy itself is not screened or counted');
    assert.equal(fw.clientOf('10.0.0.5', '198.51.100.7, 10.0.0.9'), '198.51.100.7');
    assert.equal(fw.clientOf('192.0.2.1', '198.51.100.7'), '192.0.2.1', 'an untrusted peer cannot choose its address');
    assert.equal(fw.onRequest('203.0.113.9', true, 0)?.reason, 'denied');
    assert.equal(fw.onRequest('198.51.100.7', true, 0), undefined);
    assert.equal(fw.onRequest('198.51.100.7', true, 0)?.reason, 'rate-limited');
    assert.equal(fw.onRefused('10.0.0.5', 429, 0), false, 'a trusted proxy is never banned');
  });

  it('keeps state across a reconfiguration and forgets idle clients', () => {
    const fw = new EdgeFirewall(spec({ rateLimit: { perSecond: 1, burst: 1 } }));
    fw.onRequest('a', false, 0);
    fw.reconfigure(spec({ rateLimit: { perSecond: 1, burst: 1 }, deny: ['192.0.2.0/24'] }));
    assert.equal(fw.onRequest('a', false, 10)?.reason, 'rate-limited', 'the bucket survived');
    assert.equal(fw.onAccept('192.0.2.4', 10)?.reason, 'denied', 'the new list applies');
    fw.prune(5000);
    assert.equal(fw.size(), 0);
  });
  it('a ban moves the epoch, so connections admitted before it know to check their client again', () => {
    const fw = new EdgeFirewall(spec({ ban: { after: 2, withinMs: 10_000, forMs: 60_000 } }));
    assert.equal(fw.onAccept('a', 0), undefined);
    const admittedAt = fw.epoch;
    fw.onRefused('b', 429, 0);
    assert.equal(fw.epoch, admittedAt, 'a refusal short of a ban changes nothing');
    assert.equal(fw.banCheck('a', 0), undefined);
    fw.onRefused('a', 429, 1000);
    fw.onRefused('a', 429, 2000);
    assert.notEqual(fw.epoch, admittedAt, 'banned: open connections must look again');
    assert.deepEqual([fw.banCheck('a', 3000)?.status, fw.banCheck('a', 3000)?.reason], [403, 'banned']);
    assert.equal(fw.banCheck('b', 3000), undefined, 'only the banned client');
    assert.equal(fw.banCheck('a', 62_001), undefined, 'the ban ran out');
  });

  it('tells its ban listeners of each new ban (tcp frontends cut the sessions), not of lifts', () => {
    const fw = new EdgeFirewall(spec({ ban: { after: 2, withinMs: 10_000, forMs: 60_000 }, trustedProxies: ['10.0.0.0/8'] }));
    const heard: string[] = [];
    const stop = fw.onBan((client) => heard.push(client));
    fw.onRefused('a', 429, 0);
    assert.deepEqual(heard, [], 'a refusal short of a ban');
    fw.onRefused('a', 429, 1);
    fw.onRefused('a', 429, 2);
    assert.deepEqual(heard, ['a'], 'once, when banned; refusals while banned add nothing');
    fw.onRefused('10.0.0.5', 429, 3);
    fw.onRefused('10.0.0.5', 429, 4);
    assert.deepEqual(heard, ['a'], 'a trusted proxy is never banned');
    fw.lift('a', 5);
    assert.deepEqual(heard, ['a'], 'a lift is no ban');
    stop();
    fw.onRefused('b', 429, 6);
    fw.onRefused('b', 429, 7);
    assert.deepEqual(fw.bans(8).map((b) => b.client), ['b']);
    assert.deepEqual(heard, ['a'], 'unsubscribed');
  });
});
