import type { Balancer, Pickable, PickContext } from './types.js';

/**
 * Smooth weighted round-robin (nginx): every usable server gains its weight, the richest is
 * picked and pays the total. Unlike plain weighted round-robin it interleaves (5,1,1 gives
 * a a b a c a a rather than a a a a a b c) and with equal weights it is a strict rotation.
 *
 * Weights are read on every pick, so a weight changed at run time (e.g. drained to 0) applies at
 * once. A server that is skipped keeps its `current`, as nginx does: it is bounded by the total
 * weight, so a returning server is at most one round early or late, and the long-run share of
 * every usable server stays exactly proportional to its weight.
 */
export class SmoothWeighted<S extends Pickable> {
  private readonly current: Float64Array;

  constructor(private readonly servers: readonly S[]) {
    this.current = new Float64Array(servers.length);
  }

  next(usable: (s: S) => boolean): S | undefined {
    const servers = this.servers;
    const current = this.current;
    let total = 0;
    let best = -1;
    let bestCurrent = 0;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const w = s.weight;
      // `!(w > 0)` also rejects NaN; the weight test comes first so a drained server costs no usable() call.
      if (!(w > 0) || !usable(s)) continue;
      const c = current[i]! + w;
      current[i] = c;
      total += w;
      // Strictly greater: ties go to the earlier server, which is what makes equal weights rotate in order.
      if (best < 0 || c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (best < 0) return undefined;
    current[best] = bestCurrent - total;
    return servers[best];
  }
}

export class RoundRobinBalancer<S extends Pickable> implements Balancer<S> {
  readonly policy = 'roundrobin' as const;
  private readonly rr: SmoothWeighted<S>;

  constructor(servers: readonly S[]) {
    this.rr = new SmoothWeighted(servers);
  }

  pick(_ctx: PickContext, usable: (s: S) => boolean): S | undefined {
    return this.rr.next(usable);
  }
}
