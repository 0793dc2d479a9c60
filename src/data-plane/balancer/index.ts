/**
 * Balancing policies. Everything here runs once per request on the hot path, so pick() allocates
 * nothing: per-server state lives in typed arrays sized at construction, policies are classes (one
 * hidden class per policy, methods on the prototype), and the server list is fixed for the life of
 * a balancer (a reload builds a new one).
 *
 * Which servers may be picked is the caller's business (health, maxconn, backup lists): it passes
 * usable(). This module only honours weight 0 as "never pick".
 */
import type { BalanceSpec } from '../../config/types.js';
import { LeastConnBalancer } from './leastconn.js';
import { P2CBalancer } from './p2c.js';
import { HashBalancer } from './ring.js';
import { StickyBalancer, stickyValueOf } from './sticky.js';
import { RoundRobinBalancer } from './swrr.js';
import type { Balancer, Pickable } from './types.js';

export type { Balancer, Pickable, PickContext } from './types.js';

export function createBalancer<S extends Pickable>(
  spec: BalanceSpec,
  servers: readonly S[],
  random: () => number = Math.random,
): Balancer<S> {
  // A private copy: state arrays are indexed by position, so the caller must not be able to shift it.
  const list: readonly S[] = servers.slice();
  switch (spec.policy) {
    case 'roundrobin':
      return new RoundRobinBalancer(list);
    case 'leastconn':
      return new LeastConnBalancer(list);
    case 'p2c':
      return new P2CBalancer(list, random);
    case 'hash':
      return new HashBalancer(spec, list);
    case 'sticky':
      return new StickyBalancer(spec.cookie, list);
    default: {
      const unknown: never = spec.policy;
      throw new Error(`unknown balance policy: ${String(unknown)}`);
    }
  }
}

/** Value the sticky cookie holds for a server: stable across restarts and reloads (a short hash of the server name), never the address. */
export function stickyValue(server: Pickable): string {
  return stickyValueOf(server.name);
}
