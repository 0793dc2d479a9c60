/**
 * Everything the monitor remembers, in memory for queries and in segments on disk for restarts:
 * raw samples (only of metrics some rule or chart reads over a range, written when they change,
 * with a per-segment dictionary of series), chart points computed each round, the event timeline
 * and the alert state. Replaying the segments at start rebuilds all four.
 */
import type { Clock } from '../../core/clock.js';
import type { Alert } from '../alerting/engine.js';
import { signature, type Labels } from '../promql/evaluate.js';
import { SeriesStore, type RawSample } from './series-store.js';
import { SegmentLog, decodeNumber, encodeNumber } from './segments.js';

export interface MonitorEvent {
  /** ISO time. */
  readonly at: string;
  readonly kind: string;
  readonly node?: string;
  readonly message: string;
}

export interface HistoryOptions {
  readonly dir: string;
  readonly retention: { readonly ageMs: number; readonly sizeBytes: number };
  readonly clock: Clock;
  readonly intervalMs: number;
  /** Metric → longest range read over it. */
  readonly ranges: ReadonlyMap<string, number>;
  /** Chart points kept in memory (and so queryable); default min(retention age, 6 h). */
  readonly chartMemoryMs?: number;
  readonly maxEvents?: number;
}

/** One chart series in memory: parallel arrays, trimmed from the front. */
interface Line {
  t: number[];
  v: number[];
}

export class History {
  readonly series: SeriesStore;
  private readonly log: SegmentLog;
  private readonly charts = new Map<string, Map<string, Line>>();
  private eventList: MonitorEvent[] = [];
  private alerts: Alert[] = [];
  private readonly chartMemoryMs: number;
  private readonly maxEvents: number;
  /** Per segment: series key → id, and the values last written per target. */
  private dict = new Map<string, number>();
  private written = new Map<string, Map<number, number>>();
  /** Targets whose failed scrape is already written (one line per outage). */
  private down = new Set<string>();
  private pending: object[] = [];
  private ranges: ReadonlyMap<string, number>;

  constructor(private readonly o: HistoryOptions) {
    this.ranges = o.ranges;
    this.series = new SeriesStore({ intervalMs: o.intervalMs, ranges: o.ranges });
    this.log = new SegmentLog({ dir: o.dir, ageMs: o.retention.ageMs, sizeBytes: o.retention.sizeBytes, clock: o.clock });
    this.chartMemoryMs = o.chartMemoryMs ?? Math.min(o.retention.ageMs, 6 * 3_600_000);
    this.maxEvents = o.maxEvents ?? 2000;
  }

  /** Rebuild memory from disk. */
  restore(): { lines: number } {
    const now = this.o.clock.now();
    const maxRange = Math.max(0, ...this.ranges.values());
    const dict = new Map<number, { name: string; labels: Labels }>();
    const current = new Map<string, Map<number, number>>();
    let lines = 0;
    this.log.replay((l) => {
      lines++;
      switch (l['k']) {
        case 'h': // a new segment: its own dictionary and keyframes follow
          dict.clear();
          current.clear();
          break;
        case 'd':
          dict.set(l['i'] as number, { name: l['n'] as string, labels: l['l'] as Labels });
          break;
        case 's': {
          const target = l['n'] as string;
          const t = l['t'] as number;
          let vals = current.get(target);
          if (!vals) current.set(target, (vals = new Map()));
          if (l['up'] === 0) vals.clear();
          for (const [i, v] of (l['v'] as [number, unknown][] | undefined) ?? []) vals.set(i, decodeNumber(v));
          for (const i of (l['x'] as number[] | undefined) ?? []) vals.delete(i);
          if (t < now - maxRange - this.o.intervalMs * 3) break;
          const samples: RawSample[] = [];
          for (const [i, v] of vals) {
            const d = dict.get(i);
            if (d) samples.push({ name: d.name, labels: d.labels, value: v });
          }
          this.series.ingest(target, t, l['up'] === 0 ? null : samples);
          break;
        }
        case 'c':
          if ((l['t'] as number) >= now - this.chartMemoryMs) this.addChartPoints(l['t'] as number, l['c'] as Record<string, Record<string, unknown>>);
          break;
        case 'e':
          this.eventList.push({ at: l['at'] as string, kind: l['kind'] as string, ...(typeof l['node'] === 'string' && { node: l['node'] }), message: l['message'] as string });
          if (this.eventList.length > this.maxEvents * 2) this.eventList = this.eventList.slice(-this.maxEvents);
          break;
        case 'a':
          this.alerts = l['alerts'] as Alert[];
          break;
      }
    });
    if (this.eventList.length > this.maxEvents) this.eventList = this.eventList.slice(-this.maxEvents);
    return { lines };
  }

  /** Before a round's scrapes are recorded: a due segment change happens between rounds. */
  beginRound(t: number): void {
    if (!this.log.rotateIfDue()) return;
    this.dict = new Map();
    this.written = new Map();
    this.down = new Set();
    // Every segment starts with the alerts in force: an alert that fires longer than the
    // retention must not be forgotten when the segment that recorded its start is deleted.
    this.pending.unshift({ k: 'h', t }, { k: 'a', t, alerts: this.alerts });
  }

  /** One target's scrape at `t` (null: it failed). Memory now; disk at the next flush(). */
  recordScrape(target: string, t: number, samples: readonly RawSample[] | null): void {
    this.series.ingest(target, t, samples);
    let before = this.written.get(target);
    if (!before) this.written.set(target, (before = new Map()));
    if (samples === null) {
      if (!this.down.has(target)) this.pending.push({ k: 's', t, n: target, up: 0 });
      this.down.add(target);
      before.clear();
      return;
    }
    this.down.delete(target);
    const v: [number, number | string][] = [];
    const seen = new Set<number>();
    for (const s of samples) {
      if ((this.ranges.get(s.name) ?? 0) === 0) continue;
      const key = `${s.name}{${signature(s.labels)}}`;
      let id = this.dict.get(key);
      if (id === undefined) {
        id = this.dict.size;
        this.dict.set(key, id);
        this.pending.push({ k: 'd', i: id, n: s.name, l: s.labels });
      }
      seen.add(id);
      const last = before.get(id);
      if (last === undefined || !(last === s.value || (Number.isNaN(last) && Number.isNaN(s.value)))) {
        v.push([id, encodeNumber(s.value)]);
        before.set(id, s.value);
      }
    }
    const x = [...before.keys()].filter((id) => !seen.has(id));
    for (const id of x) before.delete(id);
    if (v.length > 0 || x.length > 0) this.pending.push({ k: 's', t, n: target, up: 1, ...(v.length > 0 && { v }), ...(x.length > 0 && { x }) });
  }

  /** Rules changed (a reload): what is kept over a range, in memory and on disk, follows. */
  setRanges(ranges: ReadonlyMap<string, number>): void {
    this.ranges = ranges;
    this.series.setRanges(ranges);
  }

  recordCharts(t: number, values: Record<string, Record<string, number>>): void {
    this.addChartPoints(t, values);
    const c: Record<string, Record<string, number | string>> = {};
    for (const [chart, byLabel] of Object.entries(values)) {
      c[chart] = {};
      for (const [label, v] of Object.entries(byLabel)) c[chart]![label] = encodeNumber(v);
    }
    this.pending.push({ k: 'c', t, c });
  }

  private addChartPoints(t: number, values: Record<string, Record<string, unknown>>): void {
    const cutoff = t - this.chartMemoryMs;
    for (const [chart, byLabel] of Object.entries(values)) {
      let lines = this.charts.get(chart);
      if (!lines) this.charts.set(chart, (lines = new Map()));
      for (const [label, raw] of Object.entries(byLabel)) {
        let line = lines.get(label);
        if (!line) lines.set(label, (line = { t: [], v: [] }));
        line.t.push(t);
        line.v.push(decodeNumber(raw));
        // Trim in chunks: one splice per many points, not per point.
        if (line.t.length > 64 && line.t[63]! < cutoff) {
          const n = line.t.findIndex((x) => x >= cutoff);
          line.t.splice(0, n === -1 ? line.t.length : n);
          line.v.splice(0, n === -1 ? line.v.length : n);
        }
      }
    }
  }

  recordEvent(e: MonitorEvent): void {
    this.eventList.push(e);
    if (this.eventList.length > this.maxEvents * 2) this.eventList = this.eventList.slice(-this.maxEvents);
    this.pending.push({ k: 'e', ...e });
  }

  recordAlerts(alerts: readonly Alert[]): void {
    this.alerts = [...alerts];
    this.pending.push({ k: 'a', t: this.o.clock.now(), alerts });
  }

  /** Write what this round recorded: one append. */
  flush(): void {
    const lines = this.pending;
    this.pending = [];
    this.log.append(lines);
  }

  /**
   * Points of a chart in [from, to], at most `maxPoints` per series (averaged into equal time
   * buckets when there are more). NaN points (no traffic: no ratio) are left out.
   */
  chart(name: string, from: number, to: number, maxPoints = 720): { label: string; points: [number, number][] }[] {
    const out: { label: string; points: [number, number][] }[] = [];
    const step = Math.max(1, Math.ceil((to - from) / maxPoints));
    for (const [label, line] of this.charts.get(name) ?? []) {
      const points: [number, number][] = [];
      let bucket = -1;
      let sum = 0;
      let n = 0;
      const push = (): void => {
        if (n > 0) points.push([from + bucket * step + step, sum / n]);
      };
      for (let i = 0; i < line.t.length; i++) {
        const t = line.t[i]!;
        const v = line.v[i]!;
        if (t < from || t > to || Number.isNaN(v)) continue;
        if (step === 1) {
          points.push([t, v]);
          continue;
        }
        const b = Math.floor((t - from) / step);
        if (b !== bucket) {
          push();
          bucket = b;
          sum = 0;
          n = 0;
        }
        sum += v;
        n++;
      }
      if (step > 1) push();
      if (points.length > 0) out.push({ label, points });
    }
    return out.sort((a, b) => a.label.localeCompare(b.label));
  }

  /** Newest first. */
  events(limit: number): MonitorEvent[] {
    return this.eventList.slice(-limit).reverse();
  }

  restoredAlerts(): Alert[] {
    return this.alerts;
  }

  diskBytes(): number {
    return this.log.bytes();
  }

  close(): void {
    this.flush();
    this.log.close();
  }
}
