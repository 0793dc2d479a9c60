import type { BalanceSpec } from '../../config/types.js';
import { fmix32, fnv1a, fnv1aU32, hash32 } from './hash.js';
import type { Balancer, Pickable, PickContext } from './types.js';

/**
 * Consistent hashing on a ring of virtual nodes, chosen over Maglev and jump hash because it is
 * the only one of the three where both failure and removal move exactly the keys of the server
 * concerned: jump hash can only drop the last bucket and has no weights, and Maglev reshuffles a
 * few per cent of other servers' keys when its table is rebuilt. The price, an O(log n) binary
 * search instead of an O(1) table read, is at most 19 comparisons.
 *
 * Each server owns POINTS_PER_WEIGHT × weight points, placed by hashing its name and point number
 * (never its address, so re-addressing a server keeps its keys). A fixed count per unit of weight,
 * rather than a ring size normalised to the total weight, is what keeps the other servers' points
 * (and so their keys) untouched when one server is removed. Weights are fixed when the ring is
 * built; a server whose weight later drops to 0 is skipped like an unusable one.
 */

/**
 * A server's share of the ring deviates from its weight's share by about 1/sqrt(points): 100–160
 * points (ketama's figure) leave servers ±10–20 % off; 512 typically keeps them within 5 %
 * (measured on three equal servers over many name sets), for 4 KiB of ring per unit of weight and
 * a binary search two steps longer.
 */
const POINTS_PER_WEIGHT = 512;

/**
 * Upper bound on ring size (4 MiB of typed arrays), reached only when weights total over 1024.
 * Such weights are then scaled down together: proportions hold, but removing a server from such a
 * backend changes the scale and so moves some keys of the others too.
 */
const MAX_POINTS = 1 << 19;

/** Ring points are sorted as hash × 2^21 + name rank: exact in a double and native-sortable. */
const RANK_SPACE = 1 << 21;

const enum KeySource {
  Source,
  Header,
  Cookie,
}

export class HashBalancer<S extends Pickable> implements Balancer<S> {
  readonly policy = 'hash' as const;
  private readonly servers: readonly S[];
  private readonly keySource: KeySource;
  private readonly keyName: string;
  /** Sorted point hashes. */
  private readonly points: Uint32Array;
  /** owners[i] is the index in `servers` of the point points[i]. */
  private readonly owners: Int32Array;
  /** Number of distinct servers on the ring: lets a walk stop once it has rejected them all. */
  private readonly ringServers: number;
  /** seen[i] === epoch when server i was already rejected during the current pick. */
  private readonly seen: Uint32Array;
  private epoch = 0;

  constructor(spec: BalanceSpec, servers: readonly S[]) {
    this.servers = servers;
    if (spec.hashOn === 'header' && spec.hashKey) {
      this.keySource = KeySource.Header;
      // PickContext.header() takes lower-case names; lower-case once here, not per request.
      this.keyName = spec.hashKey.toLowerCase();
    } else if (spec.hashOn === 'cookie' && (spec.hashKey || spec.cookie)) {
      this.keySource = KeySource.Cookie;
      this.keyName = spec.hashKey || spec.cookie;
    } else {
      // A header policy without a header name has nothing to hash but the source.
      this.keySource = KeySource.Source;
      this.keyName = '';
    }
    if (servers.length >= RANK_SPACE) throw new RangeError(`hash balancing supports at most ${RANK_SPACE - 1} servers`);
    this.seen = new Uint32Array(servers.length);

    let wanted = 0;
    for (const s of servers) if (s.weight > 0) wanted += POINTS_PER_WEIGHT * s.weight;
    const scale = wanted > MAX_POINTS ? MAX_POINTS / wanted : 1;

    // Rank by name so that two points with the same hash are ordered the same whatever the
    // order of servers in the config file.
    const byName = servers.map((_s, i) => i).sort((a, b) => {
      const na = servers[a]!.name;
      const nb = servers[b]!.name;
      return na < nb ? -1 : na > nb ? 1 : a - b;
    });
    const rankToIndex = new Int32Array(servers.length);
    const rankOf = new Int32Array(servers.length);
    byName.forEach((index, rank) => {
      rankToIndex[rank] = index;
      rankOf[index] = rank;
    });

    const packed: number[] = [];
    let ringServers = 0;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (!(s.weight > 0)) continue;
      ringServers++;
      const count = Math.max(1, Math.round(POINTS_PER_WEIGHT * s.weight * scale));
      const nameState = fnv1a(s.name);
      for (let v = 0; v < count; v++) packed.push(fmix32(fnv1aU32(v, nameState)) * RANK_SPACE + rankOf[i]!);
    }
    const sorted = Float64Array.from(packed).sort();
    this.points = new Uint32Array(sorted.length);
    this.owners = new Int32Array(sorted.length);
    for (let p = 0; p < sorted.length; p++) {
      const x = sorted[p]!;
      const rank = x % RANK_SPACE;
      this.points[p] = (x - rank) / RANK_SPACE;
      this.owners[p] = rankToIndex[rank]!;
    }
    this.ringServers = ringServers;
  }

  pick(ctx: PickContext, usable: (s: S) => boolean): S | undefined {
    const points = this.points;
    const n = points.length;
    if (n === 0) return undefined;

    let key: string | undefined;
    if (this.keySource === KeySource.Header) key = ctx.header(this.keyName);
    else if (this.keySource === KeySource.Cookie) key = ctx.cookie(this.keyName);
    // An empty value is treated as missing: hashing '' would send every such client to one server.
    if (!key) key = ctx.clientIp;
    const h = hash32(key);

    // First point clockwise from h (lower bound), wrapping past the end.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    let p = lo === n ? 0 : lo;

    const servers = this.servers;
    const owners = this.owners;
    const seen = this.seen;
    let epoch = (this.epoch + 1) >>> 0;
    if (epoch === 0) {
      seen.fill(0);
      epoch = 1;
    }
    this.epoch = epoch;

    // Walking clockwise past an unusable server's points hands each of its keys to whichever
    // server follows that point, spreading them over the survivors while every other key stays.
    let rejected = 0;
    for (let step = 0; step < n; step++) {
      const i = owners[p]!;
      if (seen[i] !== epoch) {
        const s = servers[i]!;
        if (s.weight > 0 && usable(s)) return s;
        seen[i] = epoch;
        // Stopping here bounds the all-down case by the servers count, not the ring size.
        if (++rejected === this.ringServers) return undefined;
      }
      if (++p === n) p = 0;
    }
    return undefined;
  }
}
