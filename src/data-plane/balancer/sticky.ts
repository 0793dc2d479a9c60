import { hash32 } from './hash.js';
import { SmoothWeighted } from './swrr.js';
import type { Balancer, Pickable, PickContext } from './types.js';

/**
 * Cookie value for a server: 8 hex digits of a hash of its name. The name, because it survives
 * restarts, reloads and re-addressing and does not reveal the backend's internal addresses.
 */
export function stickyValueOf(name: string): string {
  return hash32(name).toString(16).padStart(8, '0');
}

/**
 * A valid cookie naming a usable server wins; anything else (no cookie, garbage, a server that is
 * down, drained or gone after a reload) falls back to smooth weighted round-robin, and the proxy
 * then re-issues the cookie for the new pick.
 */
export class StickyBalancer<S extends Pickable> implements Balancer<S> {
  readonly policy = 'sticky' as const;
  private readonly servers: readonly S[];
  private readonly cookieName: string;
  /** Cookie value → server index, computed once so a pick costs one Map lookup and no string building. */
  private readonly byValue = new Map<string, number>();
  private readonly rr: SmoothWeighted<S>;

  constructor(cookieName: string, servers: readonly S[]) {
    this.servers = servers;
    this.cookieName = cookieName;
    this.rr = new SmoothWeighted(servers);
    for (let i = 0; i < servers.length; i++) {
      const value = stickyValueOf(servers[i]!.name);
      // On a (one in 4 billion per pair) hash collision the first server keeps the value; the
      // other's clients are simply rebalanced, never sent somewhere wrong silently forever.
      if (!this.byValue.has(value)) this.byValue.set(value, i);
    }
  }

  pick(ctx: PickContext, usable: (s: S) => boolean): S | undefined {
    const value = ctx.cookie(this.cookieName);
    if (value !== undefined) {
      const i = this.byValue.get(value);
      if (i !== undefined) {
        const s = this.servers[i]!;
        if (s.weight > 0 && usable(s)) return s;
      }
    }
    return this.rr.next(usable);
  }
}
