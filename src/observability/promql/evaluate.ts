/**
 * Evaluation of the rule language (parse.ts) at one instant, over any store that can answer
 * instant and range selections. Semantics follow PromQL: rate/increase extrapolate like
 * Prometheus (counter resets handled), histogram_quantile interpolates linearly inside the bucket,
 * binary operators match one-to-one on all labels but the metric name (or on()/ignoring()),
 * comparisons filter unless `bool`, a series of a target whose last scrape failed is absent.
 */
import { COMPARISONS, type Expr, type Matcher } from './parse.js';

export type Labels = Readonly<Record<string, string>>;

export interface VectorItem {
  readonly labels: Labels;
  readonly value: number;
  /** The metric name, kept only where PromQL keeps it (selectors, filtering comparisons). */
  readonly name?: string;
}

export interface Point {
  readonly t: number;
  readonly v: number;
}

export interface SeriesSource {
  /** The current value of every live series of `name` that matches. */
  instant(name: string, matchers: readonly Matcher[], at: number): { labels: Labels; value: number }[];
  /** The samples in (from, to] of every series of `name` that matches (stale points left out). */
  range(name: string, matchers: readonly Matcher[], from: number, to: number): { labels: Labels; points: readonly Point[] }[];
}

type Value = { kind: 'scalar'; v: number } | { kind: 'vector'; items: VectorItem[] } | { kind: 'string'; v: string };

export function evaluate(e: Expr, src: SeriesSource, at: number): VectorItem[] | number {
  const v = ev(e, src, at);
  if (v.kind === 'string') throw new Error('an expression cannot evaluate to a string');
  return v.kind === 'scalar' ? v.v : v.items;
}

/** The expression as an instant vector (a number becomes one series with no labels). */
export function evaluateVector(e: Expr, src: SeriesSource, at: number): VectorItem[] {
  const r = evaluate(e, src, at);
  return typeof r === 'number' ? [{ labels: {}, value: r }] : r;
}

export function matches(labels: Labels, matchers: readonly Matcher[]): boolean {
  for (const m of matchers) {
    const v = labels[m.label] ?? '';
    switch (m.op) {
      case '=': if (v !== m.value) return false; break;
      case '!=': if (v === m.value) return false; break;
      case '=~': if (!anchored(m.value).test(v)) return false; break;
      case '!~': if (anchored(m.value).test(v)) return false; break;
    }
  }
  return true;
}

const regexes = new Map<string, RegExp>();
function anchored(re: string): RegExp {
  let r = regexes.get(re);
  if (!r) {
    r = new RegExp(`^(?:${re})$`);
    regexes.set(re, r);
  }
  return r;
}

function ev(e: Expr, src: SeriesSource, at: number): Value {
  switch (e.type) {
    case 'number': return { kind: 'scalar', v: e.value };
    case 'string': return { kind: 'string', v: e.value };
    case 'paren': return ev(e.expr, src, at);
    case 'neg': {
      const v = ev(e.expr, src, at);
      if (v.kind === 'scalar') return { kind: 'scalar', v: -v.v };
      if (v.kind === 'vector') return { kind: 'vector', items: v.items.map((i) => ({ labels: i.labels, value: -i.value })) };
      throw new Error('cannot negate a string');
    }
    case 'selector':
      if (e.rangeMs !== undefined) throw new Error('a range vector must be the argument of a function');
      return { kind: 'vector', items: src.instant(e.name!, e.matchers, at).map((s) => ({ labels: s.labels, value: s.value, name: e.name! })) };
    case 'call': return call(e.fn, e.args, src, at);
    case 'agg': return { kind: 'vector', items: aggregate(e.op, e.grouping, vec(ev(e.expr, src, at))) };
    case 'binary': return binary(e, ev(e.lhs, src, at), ev(e.rhs, src, at));
  }
}

function vec(v: Value): VectorItem[] {
  if (v.kind !== 'vector') throw new Error('expected an instant vector');
  return v.items;
}
function num(v: Value): number {
  if (v.kind !== 'scalar') throw new Error('expected a number');
  return v.v;
}

/** Canonical text of a label set (sorted), optionally restricted to / without some labels. */
export function signature(labels: Labels, keep?: { on: boolean; labels: readonly string[] }): string {
  const keys = Object.keys(labels).filter((k) => (keep === undefined ? true : keep.on ? keep.labels.includes(k) : !keep.labels.includes(k))).sort();
  return keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',');
}

function pick(labels: Labels, keep: { on: boolean; labels: readonly string[] }): Labels {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels)) if (keep.on ? keep.labels.includes(k) : !keep.labels.includes(k)) out[k] = labels[k]!;
  return out;
}

function aggregate(op: string, grouping: { without: boolean; labels: readonly string[] } | undefined, items: VectorItem[]): VectorItem[] {
  const keep = grouping ? { on: !grouping.without, labels: grouping.labels } : { on: true, labels: [] };
  const groups = new Map<string, { labels: Labels; values: number[] }>();
  for (const i of items) {
    const labels = pick(i.labels, keep);
    const key = signature(labels);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { labels, values: [] }));
    g.values.push(i.value);
  }
  return [...groups.values()].map((g) => ({ labels: g.labels, value: reduce(op, g.values) }));
}

function reduce(op: string, values: number[]): number {
  switch (op) {
    case 'sum': return values.reduce((a, b) => a + b, 0);
    case 'count': return values.length;
    case 'avg': return values.reduce((a, b) => a + b, 0) / values.length;
    case 'min': return values.reduce((a, b) => (Number.isNaN(a) || b < a ? b : a));
    case 'max': return values.reduce((a, b) => (Number.isNaN(a) || b > a ? b : a));
  }
  throw new Error(`unknown aggregation ${op}`);
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '%': return a % b;
    case '^': return a ** b;
  }
  throw new Error(`not arithmetic: ${op}`);
}

function compare(op: string, a: number, b: number): boolean {
  switch (op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '>': return a > b;
    case '<': return a < b;
    case '>=': return a >= b;
    case '<=': return a <= b;
  }
  throw new Error(`not a comparison: ${op}`);
}

function binary(e: Extract<Expr, { type: 'binary' }>, l: Value, r: Value): Value {
  const isCmp = COMPARISONS.has(e.op);
  if (l.kind === 'scalar' && r.kind === 'scalar') {
    return { kind: 'scalar', v: isCmp ? Number(compare(e.op, l.v, r.v)) : arith(e.op, l.v, r.v) };
  }
  if (l.kind === 'string' || r.kind === 'string') throw new Error('strings cannot be operands');
  const match = e.matching ?? { on: false, labels: [] };
  if (e.op === 'and' || e.op === 'or' || e.op === 'unless') {
    const ls = vec(l);
    const rs = vec(r);
    const rsig = new Set(rs.map((i) => signature(i.labels, match)));
    if (e.op === 'and') return { kind: 'vector', items: ls.filter((i) => rsig.has(signature(i.labels, match))) };
    if (e.op === 'unless') return { kind: 'vector', items: ls.filter((i) => !rsig.has(signature(i.labels, match))) };
    const lsig = new Set(ls.map((i) => signature(i.labels, match)));
    return { kind: 'vector', items: [...ls, ...rs.filter((i) => !lsig.has(signature(i.labels, match)))] };
  }
  const apply = (item: VectorItem, a: number, b: number, labels: Labels): VectorItem | undefined => {
    if (!isCmp) return { labels, value: arith(e.op, a, b) };
    const ok = compare(e.op, a, b);
    if (e.bool) return { labels, value: Number(ok) };
    if (!ok) return undefined;
    return item.name === undefined ? { labels: item.labels, value: item.value } : { labels: item.labels, value: item.value, name: item.name };
  };
  if (l.kind === 'vector' && r.kind === 'scalar') {
    return { kind: 'vector', items: l.items.map((i) => apply(i, i.value, r.v, i.labels)).filter((x): x is VectorItem => x !== undefined) };
  }
  if (l.kind === 'scalar' && r.kind === 'vector') {
    // A filtering comparison keeps the vector side's value, as PromQL does.
    return {
      kind: 'vector',
      items: r.items.map((i) => {
        const out = apply(i, l.v, i.value, i.labels);
        return out && isCmp && !e.bool ? { labels: i.labels, value: i.value } : out;
      }).filter((x): x is VectorItem => x !== undefined),
    };
  }
  const ls = vec(l);
  const rs = new Map<string, VectorItem>();
  for (const i of vec(r)) {
    const sig = signature(i.labels, match);
    if (rs.has(sig)) throw new Error(`many-to-one matching: several series on the right of ${e.op} share the labels {${sig}}; aggregate them or use on()`);
    rs.set(sig, i);
  }
  const out: VectorItem[] = [];
  const seen = new Set<string>();
  for (const i of ls) {
    const sig = signature(i.labels, match);
    const other = rs.get(sig);
    if (!other) continue;
    if (seen.has(sig)) throw new Error(`many-to-one matching: several series on the left of ${e.op} share the labels {${sig}}`);
    seen.add(sig);
    // Arithmetic keeps the matching labels only when on() narrows them, as PromQL does.
    const labels = e.matching?.on && !isCmp ? pick(i.labels, match) : i.labels;
    const res = apply(i, i.value, other.value, labels);
    if (res) out.push(res);
  }
  return { kind: 'vector', items: out };
}

function call(fn: string, args: readonly Expr[], src: SeriesSource, at: number): Value {
  const rangeArg = (): { labels: Labels; points: readonly Point[] }[] => {
    const a = args[0]!;
    if (a.type !== 'selector' || a.rangeMs === undefined) throw new Error(`${fn}() needs a range vector`);
    return src.range(a.name!, a.matchers, at - a.rangeMs, at);
  };
  const rangeMs = (): number => (args[0] as { rangeMs: number }).rangeMs;
  const overRange = (f: (pts: readonly Point[]) => number | undefined): Value => ({
    kind: 'vector',
    items: rangeArg().flatMap((s) => {
      const v = f(s.points);
      return v === undefined ? [] : [{ labels: s.labels, value: v }];
    }),
  });
  const perItem = (f: (v: number) => number): Value => ({ kind: 'vector', items: vec(ev(args[0]!, src, at)).map((i) => ({ labels: i.labels, value: f(i.value) })) });
  switch (fn) {
    case 'rate': return overRange((p) => extrapolatedRate(p, at - rangeMs(), at, true, true));
    case 'increase': return overRange((p) => extrapolatedRate(p, at - rangeMs(), at, true, false));
    case 'delta': return overRange((p) => extrapolatedRate(p, at - rangeMs(), at, false, false));
    case 'irate': return overRange((p) => {
      if (p.length < 2) return undefined;
      const a = p[p.length - 2]!;
      const b = p[p.length - 1]!;
      const d = b.v < a.v ? b.v : b.v - a.v;
      return b.t === a.t ? undefined : d / ((b.t - a.t) / 1000);
    });
    case 'changes': return overRange((p) => (p.length === 0 ? undefined : p.slice(1).filter((x, i) => x.v !== p[i]!.v && !(Number.isNaN(x.v) && Number.isNaN(p[i]!.v))).length));
    case 'resets': return overRange((p) => (p.length === 0 ? undefined : p.slice(1).filter((x, i) => x.v < p[i]!.v).length));
    case 'avg_over_time': return overRange((p) => (p.length === 0 ? undefined : p.reduce((a, x) => a + x.v, 0) / p.length));
    case 'sum_over_time': return overRange((p) => (p.length === 0 ? undefined : p.reduce((a, x) => a + x.v, 0)));
    case 'min_over_time': return overRange((p) => (p.length === 0 ? undefined : Math.min(...p.map((x) => x.v))));
    case 'max_over_time': return overRange((p) => (p.length === 0 ? undefined : Math.max(...p.map((x) => x.v))));
    case 'count_over_time': return overRange((p) => (p.length === 0 ? undefined : p.length));
    case 'abs': return perItem(Math.abs);
    case 'ceil': return perItem(Math.ceil);
    case 'floor': return perItem(Math.floor);
    case 'clamp_min': { const m = num(ev(args[1]!, src, at)); return perItem((v) => Math.max(v, m)); }
    case 'clamp_max': { const m = num(ev(args[1]!, src, at)); return perItem((v) => Math.min(v, m)); }
    case 'time': return { kind: 'scalar', v: at / 1000 };
    case 'vector': return { kind: 'vector', items: [{ labels: {}, value: num(ev(args[0]!, src, at)) }] };
    case 'scalar': { const items = vec(ev(args[0]!, src, at)); return { kind: 'scalar', v: items.length === 1 ? items[0]!.value : NaN }; }
    case 'absent': {
      if (vec(ev(args[0]!, src, at)).length > 0) return { kind: 'vector', items: [] };
      // Like PromQL: the equality matchers of a plain selector become the labels.
      const a = args[0]!;
      const labels: Record<string, string> = {};
      if (a.type === 'selector') for (const m of a.matchers) if (m.op === '=') labels[m.label] = m.value;
      return { kind: 'vector', items: [{ labels, value: 1 }] };
    }
    case 'histogram_quantile': return { kind: 'vector', items: histogramQuantile(num(ev(args[0]!, src, at)), vec(ev(args[1]!, src, at))) };
  }
  throw new Error(`unsupported function ${fn}`);
}

/** Prometheus's extrapolatedRate (promql/functions.go), for rate, increase and delta. */
export function extrapolatedRate(points: readonly Point[], rangeStart: number, rangeEnd: number, isCounter: boolean, isRate: boolean): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0]!;
  const last = points[points.length - 1]!;
  let result = last.v - first.v;
  if (isCounter) {
    for (let i = 1; i < points.length; i++) if (points[i]!.v < points[i - 1]!.v) result += points[i - 1]!.v;
  }
  let durationToStart = (first.t - rangeStart) / 1000;
  const durationToEnd = (rangeEnd - last.t) / 1000;
  const sampled = (last.t - first.t) / 1000;
  if (sampled <= 0) return undefined;
  const avgStep = sampled / (points.length - 1);
  if (isCounter && result > 0 && first.v >= 0) {
    const durationToZero = sampled * (first.v / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = avgStep * 1.1;
  let extrapolateTo = sampled;
  extrapolateTo += durationToStart < threshold ? durationToStart : avgStep / 2;
  extrapolateTo += durationToEnd < threshold ? durationToEnd : avgStep / 2;
  result *= extrapolateTo / sampled;
  if (isRate) result /= (rangeEnd - rangeStart) / 1000;
  return result;
}

/** histogram_quantile over `_bucket` series: grouped by every label but `le`. */
export function histogramQuantile(q: number, items: readonly VectorItem[]): VectorItem[] {
  const groups = new Map<string, { labels: Labels; buckets: { le: number; count: number }[] }>();
  for (const i of items) {
    const le = i.labels['le'];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    if (Number.isNaN(bound)) continue;
    const labels = pick(i.labels, { on: false, labels: ['le'] });
    const key = signature(labels);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { labels, buckets: [] }));
    g.buckets.push({ le: bound, count: i.value });
  }
  return [...groups.values()].map((g) => ({ labels: g.labels, value: bucketQuantile(q, g.buckets) }));
}

/** Prometheus's bucketQuantile: linear interpolation within the bucket that holds the rank. */
export function bucketQuantile(q: number, input: readonly { le: number; count: number }[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const buckets = [...input].sort((a, b) => a.le - b.le);
  if (buckets.length < 2 || buckets[buckets.length - 1]!.le !== Infinity) return NaN;
  // Counts must not fall with rising bounds (rates of separately reset counters can): level them.
  for (let i = 1; i < buckets.length; i++) if (buckets[i]!.count < buckets[i - 1]!.count) buckets[i] = { le: buckets[i]!.le, count: buckets[i - 1]!.count };
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return NaN;
  let rank = q * total;
  let b = buckets.findIndex((x) => x.count >= rank);
  if (b === -1) b = buckets.length - 1;
  if (b === buckets.length - 1) return buckets[buckets.length - 2]!.le;
  if (b === 0 && buckets[0]!.le <= 0) return buckets[0]!.le;
  let start = 0;
  const end = buckets[b]!.le;
  let count = buckets[b]!.count;
  if (b > 0) {
    start = buckets[b - 1]!.le;
    count -= buckets[b - 1]!.count;
    rank -= buckets[b - 1]!.count;
  }
  return start + (end - start) * (rank / count);
}
