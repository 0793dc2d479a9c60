import type { Balancer, Pickable, PickContext } from './types.js';

/**
 * Fewest `active / weight`. Loads are compared by cross-multiplication (a.active × b.weight vs
 * b.active × a.weight) so there is no division and ties between integer loads are exact.
 *
 * Ties are broken by smooth weighted round-robin among the tied servers rather than by index:
 * under light, serialised traffic every server is idle at pick time, and "first wins" would send
 * everything to one server, while plain rotation would ignore weights. Among equal weights this is
 * a strict rotation.
 */
export class LeastConnBalancer<S extends Pickable> implements Balancer<S> {
  readonly policy = 'leastconn' as const;
  private readonly servers: readonly S[];
  private readonly current: Float64Array;
  /** Indices of this pick's candidates; preallocated so pick() allocates nothing and calls usable() once per server. */
  private readonly candidates: Int32Array;

  constructor(servers: readonly S[]) {
    this.servers = servers;
    this.current = new Float64Array(servers.length);
    this.candidates = new Int32Array(servers.length);
  }

  pick(_ctx: PickContext, usable: (s: S) => boolean): S | undefined {
    const servers = this.servers;
    const candidates = this.candidates;
    let count = 0;
    let minActive = 0;
    let minWeight = 1;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const w = s.weight;
      if (!(w > 0) || !usable(s)) continue;
      const a = s.active;
      if (count === 0 || a * minWeight < minActive * w) {
        minActive = a;
        minWeight = w;
      }
      candidates[count++] = i;
    }
    if (count === 0) return undefined;
    if (count === 1) return servers[candidates[0]!];

    const current = this.current;
    let total = 0;
    let best = -1;
    let bestCurrent = 0;
    for (let k = 0; k < count; k++) {
      const i = candidates[k]!;
      const s = servers[i]!;
      const w = s.weight;
      if (s.active * minWeight !== minActive * w) continue;
      const c = current[i]! + w;
      current[i] = c;
      total += w;
      if (best < 0 || c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    // Only reachable with a non-finite `active`; answer something usable rather than nothing.
    if (best < 0) return servers[candidates[0]!];
    current[best] = bestCurrent - total;
    return servers[best];
  }
}
