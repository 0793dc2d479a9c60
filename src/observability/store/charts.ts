/**
 * The dashboard's charts, each a few expressions of the rule language evaluated on the recent
 * samples after every scrape round: rates from counters over a short window, quantiles from
 * histogram buckets. Their values are what History stores and /api/series serves.
 */
import { evaluateVector, type Labels, type SeriesSource } from '../promql/evaluate.js';
import { metricRanges, parseExpr, type Expr } from '../promql/parse.js';

export const CHART_NAMES = ['requests_per_second', 'error_ratio', 'latency_p50', 'latency_p99', 'replication_lag_bytes', 'connections'] as const;
export type ChartName = (typeof CHART_NAMES)[number];

export interface ChartDef {
  readonly name: ChartName;
  readonly unit: string;
  readonly queries: readonly { readonly expr: Expr; readonly label: (l: Labels) => string }[];
}

/** Window of the rates: a few scrapes, at least 10 s, so one late scrape does not make a spike. */
export function chartWindowMs(intervalMs: number): number {
  return Math.max(4 * intervalMs, 10_000);
}

export function chartDefs(intervalMs: number): ChartDef[] {
  const w = `${Math.round(chartWindowMs(intervalMs) / 1000)}s`;
  const requests = `sum by (frontend) (rate(bulwark_http_requests_total{role="lb"}[${w}]))`;
  const errors = `sum by (frontend) (rate(bulwark_http_requests_total{role="lb",code="5xx"}[${w}]))`;
  const quantile = (q: number): string => `histogram_quantile(${q}, sum by (frontend, le) (rate(bulwark_http_request_duration_seconds_bucket{role="lb"}[${w}])))`;
  const frontend = (l: Labels): string => l['frontend'] ?? '';
  return [
    { name: 'requests_per_second', unit: 'req/s', queries: [{ expr: parseExpr(requests), label: frontend }] },
    // A frontend without a single 5xx has no 5xx series: count it as 0, not as missing.
    { name: 'error_ratio', unit: 'ratio', queries: [{ expr: parseExpr(`(${errors} or ${requests} * 0) / ${requests}`), label: frontend }] },
    { name: 'latency_p50', unit: 's', queries: [{ expr: parseExpr(quantile(0.5)), label: frontend }] },
    { name: 'latency_p99', unit: 's', queries: [{ expr: parseExpr(quantile(0.99)), label: frontend }] },
    { name: 'replication_lag_bytes', unit: 'bytes', queries: [{ expr: parseExpr('max by (node) (bulwark_pg_replication_lag_bytes)'), label: (l) => l['node'] ?? '' }] },
    {
      name: 'connections', unit: 'connections', queries: [
        { expr: parseExpr('sum by (frontend) (bulwark_frontend_connections_active{role="lb"})'), label: frontend },
        { expr: parseExpr('sum by (node) (bulwark_pg_connections)'), label: (l) => `${l['node'] ?? ''} postgres` },
      ],
    },
  ];
}

export function chartRanges(defs: readonly ChartDef[], into = new Map<string, number>()): Map<string, number> {
  for (const d of defs) for (const q of d.queries) metricRanges(q.expr, into);
  return into;
}

/** Every chart's values now: chart → series label → value. */
export function computeCharts(defs: readonly ChartDef[], src: SeriesSource, at: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const d of defs) {
    const values: Record<string, number> = {};
    for (const q of d.queries) {
      try {
        for (const item of evaluateVector(q.expr, src, at)) values[q.label(item.labels)] = item.value;
      } catch {
        // A chart query is ours and well-formed; a failure here is data shaped unexpectedly: skip it.
      }
    }
    out[d.name] = values;
  }
  return out;
}
