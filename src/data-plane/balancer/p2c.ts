import type { Balancer, Pickable, PickContext } from './types.js';

/**
 * Power of two random choices: draw two distinct usable servers, keep the one with the lower
 * `active / weight` (the first drawn on a tie). Near-leastconn quality without the herd effect of
 * every balancer instance piling onto the same least-loaded server.
 *
 * Draws are weighted by weight, not uniform: when all servers are idle (light or serialised
 * traffic) the comparison ties and the draw alone decides, so a uniform draw would ignore weights.
 * With equal weights the draw is uniform, i.e. classic P2C.
 *
 * Exactly two random() calls per pick when two or more servers are usable, none otherwise: tests
 * script the sequence.
 */
export class P2CBalancer<S extends Pickable> implements Balancer<S> {
  readonly policy = 'p2c' as const;
  private readonly servers: readonly S[];
  private readonly random: () => number;
  private readonly candidates: Int32Array;
  /** Running weight sums of the candidates, preallocated. */
  private readonly cumulative: Float64Array;

  constructor(servers: readonly S[], random: () => number) {
    this.servers = servers;
    this.random = random;
    this.candidates = new Int32Array(servers.length);
    this.cumulative = new Float64Array(servers.length);
  }

  pick(_ctx: PickContext, usable: (s: S) => boolean): S | undefined {
    const servers = this.servers;
    const candidates = this.candidates;
    const cumulative = this.cumulative;
    let count = 0;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const w = s.weight;
      if (!(w > 0) || !usable(s)) continue;
      total += w;
      candidates[count] = i;
      cumulative[count] = total;
      count++;
    }
    if (count === 0) return undefined;
    if (count === 1) return servers[candidates[0]!];

    // First draw: the first candidate whose running sum exceeds r. The clamp guards r = total
    // (a random() that returns 1, or float rounding).
    const r1 = this.random() * total;
    let k1 = 0;
    while (k1 < count - 1 && cumulative[k1]! <= r1) k1++;
    const a = servers[candidates[k1]!]!;
    const wa = a.weight;

    // Second draw over the remaining weight, skipping the first pick, so the two are distinct
    // without rejection sampling (which would make the number of random() calls unpredictable).
    const r2 = this.random() * (total - wa);
    let k2 = -1;
    let acc = 0;
    for (let k = 0; k < count; k++) {
      if (k === k1) continue;
      k2 = k;
      acc += servers[candidates[k]!]!.weight;
      if (acc > r2) break;
    }
    const b = servers[candidates[k2]!]!;
    return b.active * wa < a.active * b.weight ? b : a;
  }
}
