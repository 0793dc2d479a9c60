/**
 * The monitor's recent samples in memory: one ring per series, sized by how far back anything
 * reads that metric (the longest range of a rule or chart; one point otherwise), so thousands of
 * series cost little. Staleness works as in Prometheus: when a target's scrape fails, or a series
 * it served before is missing from its latest scrape, the series gets a stale mark and is absent
 * from instant queries until it comes back.
 */
import type { Matcher } from '../promql/parse.js';
import { matches, signature, type Labels, type Point, type SeriesSource } from '../promql/evaluate.js';

export interface RawSample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

class Ring {
  readonly t: Float64Array;
  readonly v: Float64Array;
  /** 1 where the point is a stale mark. */
  readonly stale: Uint8Array;
  private next = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
    this.stale = new Uint8Array(capacity);
  }

  push(t: number, v: number, stale: boolean): void {
    this.t[this.next] = t;
    this.v[this.next] = v;
    this.stale[this.next] = stale ? 1 : 0;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Index of the i-th newest point (0 = newest). */
  private at(i: number): number {
    return (this.next - 1 - i + this.capacity * 2) % this.capacity;
  }

  last(): { t: number; v: number; stale: boolean } | undefined {
    if (this.size === 0) return undefined;
    const j = this.at(0);
    return { t: this.t[j]!, v: this.v[j]!, stale: this.stale[j] === 1 };
  }

  /** Every point, oldest first, into another ring (which keeps the newest that fit). */
  copyInto(other: Ring): void {
    for (let i = this.size - 1; i >= 0; i--) {
      const j = this.at(i);
      other.push(this.t[j]!, this.v[j]!, this.stale[j] === 1);
    }
  }

  /** Non-stale points with from < t <= to, oldest first. */
  between(from: number, to: number): Point[] {
    const out: Point[] = [];
    for (let i = this.size - 1; i >= 0; i--) {
      const j = this.at(i);
      const t = this.t[j]!;
      if (t > from && t <= to && this.stale[j] === 0) out.push({ t, v: this.v[j]! });
    }
    return out;
  }
}

interface Series {
  readonly name: string;
  readonly labels: Labels;
  readonly ring: Ring;
}

export interface SeriesStoreOptions {
  readonly intervalMs: number;
  /** Metric name → longest range read over it (ms). Metrics not listed keep their latest point. */
  readonly ranges: ReadonlyMap<string, number>;
  /** A live series older than this is not returned by instant queries (Prometheus's lookback). */
  readonly lookbackMs?: number;
}

export class SeriesStore implements SeriesSource {
  private ranges: ReadonlyMap<string, number>;
  /** name → key → series. */
  private readonly byName = new Map<string, Map<string, Series>>();
  /** target → the series in its latest scrape. */
  private readonly liveSeries = new Map<string, Map<string, Series>>();

  constructor(private readonly o: SeriesStoreOptions) {
    this.ranges = o.ranges;
  }

  /** New rules (a reload): rings of metrics now read over a longer range grow, keeping their points. */
  setRanges(ranges: ReadonlyMap<string, number>): void {
    this.ranges = ranges;
    for (const [name, byKey] of this.byName) {
      const cap = this.capacityOf(name);
      for (const [key, s] of byKey) {
        if (s.ring.capacity === cap) continue;
        const ring = new Ring(cap);
        s.ring.copyInto(ring);
        byKey.set(key, { ...s, ring });
      }
    }
    // The live view of each target must point at the new series objects.
    for (const live of this.liveSeries.values()) {
      for (const [key, s] of live) {
        const now = this.byName.get(s.name)?.get(key);
        if (now) live.set(key, now);
      }
    }
  }

  private capacityOf(name: string): number {
    const range = this.ranges.get(name) ?? 0;
    // Two scrapes of slack: a range must always hold the samples on both of its edges.
    return range === 0 ? 2 : Math.ceil(range / this.o.intervalMs) + 3;
  }

  /**
   * One scrape of one target at `t`: its samples, or null when the scrape failed (every series
   * of the target goes stale).
   */
  ingest(target: string, t: number, samples: readonly RawSample[] | null): void {
    const before = this.liveSeries.get(target) ?? new Map<string, Series>();
    const now = new Map<string, Series>();
    for (const s of samples ?? []) {
      const key = `${s.name}{${signature(s.labels)}}`;
      let byKey = this.byName.get(s.name);
      if (!byKey) this.byName.set(s.name, (byKey = new Map()));
      let series = byKey.get(key);
      if (!series) byKey.set(key, (series = { name: s.name, labels: s.labels, ring: new Ring(this.capacityOf(s.name)) }));
      series.ring.push(t, s.value, false);
      now.set(key, series);
    }
    for (const [key, series] of before) if (!now.has(key)) series.ring.push(t, NaN, true);
    this.liveSeries.set(target, now);
  }

  /** Drop series that have been stale for longer than their range (they answer nothing). */
  prune(now: number): void {
    for (const [name, byKey] of this.byName) {
      const keep = (this.ranges.get(name) ?? 0) + this.o.intervalMs * 3;
      for (const [key, s] of byKey) {
        const last = s.ring.last();
        if (last?.stale && now - last.t > keep) byKey.delete(key);
      }
      if (byKey.size === 0) this.byName.delete(name);
    }
  }

  instant(name: string, matchers: readonly Matcher[], at: number): { labels: Labels; value: number }[] {
    const out: { labels: Labels; value: number }[] = [];
    const lookback = this.o.lookbackMs ?? this.o.intervalMs * 5;
    for (const s of this.byName.get(name)?.values() ?? []) {
      const last = s.ring.last();
      if (!last || last.stale || last.t > at || at - last.t > lookback) continue;
      if (matches(s.labels, matchers)) out.push({ labels: s.labels, value: last.v });
    }
    return out;
  }

  range(name: string, matchers: readonly Matcher[], from: number, to: number): { labels: Labels; points: readonly Point[] }[] {
    const out: { labels: Labels; points: readonly Point[] }[] = [];
    for (const s of this.byName.get(name)?.values() ?? []) {
      if (!matches(s.labels, matchers)) continue;
      const points = s.ring.between(from, to);
      if (points.length > 0) out.push({ labels: s.labels, points });
    }
    return out;
  }

  /** How many series are held (for the monitor's own metrics). */
  seriesCount(): number {
    let n = 0;
    for (const m of this.byName.values()) n += m.size;
    return n;
  }
}
