/** Schema for a frontend's `firewall`: IP lists, rate limits, connection caps, bans, trusted proxies. */
import { KEYS } from './keys.js';
import type { MapView } from './reader.js';
import { cidrList } from './schema-firewall.js';
import type { EdgeFirewallSpec } from './types.js';

export function readEdgeFirewall(frontend: MapView): EdgeFirewallSpec | undefined {
  const m = frontend.map('firewall', KEYS.edgeFirewall);
  if (!m) return undefined;
  const rl = m.map('rate_limit', KEYS.rateLimit);
  const perSecond = rl?.number('rate', { required: true, min: 0.001 });
  const burst = rl?.int('burst', { min: 1 });
  const b = m.map('ban', KEYS.ban);
  const after = b?.int('after', { required: true, min: 1 });
  const withinMs = b?.duration('within', { required: true });
  const forMs = b?.duration('for', { required: true });
  const maxConn = m.int('max_connections_per_client', { min: 1 });
  return {
    allow: cidrList(m, 'allow') ?? [],
    deny: cidrList(m, 'deny') ?? [],
    // Burst defaults to one second's worth (at least 1): a steady client at the rate never waits.
    ...(perSecond !== undefined && { rateLimit: { perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)) } }),
    ...(maxConn !== undefined && { maxConnectionsPerClient: maxConn }),
    ...(after !== undefined && withinMs !== undefined && forMs !== undefined && { ban: { after, withinMs, forMs } }),
    trustedProxies: cidrList(m, 'trusted_proxies') ?? [],
  };
}
