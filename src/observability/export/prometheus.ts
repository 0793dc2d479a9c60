/**
 * For users who run Prometheus and Grafana already: the scrape config of the cluster (HTTPS with
 * a client certificate from the cluster CA), the alert rules in Prometheus's rule format (the
 * very expressions the monitor evaluates) and a Grafana dashboard with the monitor's charts.
 * Pure: spec + certificate paths in, file texts out.
 */
import { stringify } from 'yaml';
import type { ClusterSpec } from '../../config/types.js';
import { alertRules } from '../alerting/rules.js';

export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Prometheus's duration syntax: the largest unit that divides exactly. */
export function promDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export const RULES_FILE = 'bulwark-rules.yml';

export function scrapeConfig(spec: ClusterSpec, tls: TlsFiles): string {
  const m = spec.monitor;
  const doc = {
    global: { scrape_interval: promDuration(m.scrapeIntervalMs), evaluation_interval: promDuration(m.scrapeIntervalMs) },
    rule_files: [RULES_FILE],
    scrape_configs: [{
      job_name: 'bulwark',
      scheme: 'https',
      metrics_path: '/metrics',
      scrape_interval: promDuration(m.scrapeIntervalMs),
      scrape_timeout: promDuration(m.scrapeTimeoutMs),
      // The nodes label their metrics with cluster, node and role themselves: keep those.
      honor_labels: true,
      tls_config: { ca_file: tls.caFile, cert_file: tls.certFile, key_file: tls.keyFile },
      static_configs: spec.nodes.map((n) => ({
        targets: [`${n.address.includes(':') ? `[${n.address}]` : n.address}:${n.agentPort}`],
        labels: { cluster: spec.cluster, node: n.name, role: n.role },
      })),
    }],
  };
  return `# Prometheus scrape config for Bulwark cluster "${spec.cluster}" (bulwark monitor export).\n${stringify(doc, { lineWidth: 0 })}`;
}

export function ruleFile(spec: ClusterSpec): string {
  const rules = alertRules(spec).map((r) => ({
    alert: r.name,
    expr: r.expr,
    for: promDuration(r.forMs),
    labels: { severity: r.severity, ...r.labels },
    annotations: { ...r.annotations },
  }));
  return `# Alert rules of Bulwark cluster "${spec.cluster}": the ones its monitor evaluates (bulwark monitor export).\n${stringify({ groups: [{ name: `bulwark-${spec.cluster}`, rules }] }, { lineWidth: 0 })}`;
}

/** A Grafana dashboard (schema 39) over a Prometheus data source chosen at import. */
export function grafanaDashboard(spec: ClusterSpec): string {
  const sel = `cluster="${spec.cluster}"`;
  const w = '$__rate_interval';
  const panel = (id: number, title: string, unit: string, targets: { expr: string; legend: string }[], x: number, y: number): object => ({
    id, title, type: 'timeseries', datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
    gridPos: { h: 8, w: 12, x, y },
    fieldConfig: { defaults: { unit }, overrides: [] },
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), expr: t.expr, legendFormat: t.legend, datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' } })),
  });
  const requests = `sum by (frontend) (rate(bulwark_http_requests_total{${sel},role="lb"}[${w}]))`;
  const quantile = (q: number): string => `histogram_quantile(${q}, sum by (frontend, le) (rate(bulwark_http_request_duration_seconds_bucket{${sel},role="lb"}[${w}])))`;
  const panels = [
    {
      id: 1, title: 'Nodes up', type: 'stat', datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, gridPos: { h: 4, w: 24, x: 0, y: 0 },
      targets: [{ refId: 'A', expr: `up{job="bulwark",${sel}}`, legendFormat: '{{node}}' }],
      fieldConfig: { defaults: { mappings: [{ type: 'value', options: { 0: { text: 'DOWN', color: 'red' }, 1: { text: 'up', color: 'green' } } }] }, overrides: [] },
    },
    panel(2, 'Requests per second', 'reqps', [{ expr: requests, legend: '{{frontend}}' }], 0, 4),
    panel(3, 'Error ratio (5xx)', 'percentunit', [{ expr: `sum by (frontend) (rate(bulwark_http_requests_total{${sel},role="lb",code="5xx"}[${w}])) / ${requests}`, legend: '{{frontend}}' }], 12, 4),
    panel(4, 'Latency p50 / p99', 's', [{ expr: quantile(0.5), legend: 'p50 {{frontend}}' }, { expr: quantile(0.99), legend: 'p99 {{frontend}}' }], 0, 12),
    panel(5, 'Replication lag', 'bytes', [{ expr: `max by (node) (bulwark_pg_replication_lag_bytes{${sel}})`, legend: '{{node}}' }], 12, 12),
    panel(6, 'Replication lag (seconds)', 's', [{ expr: `max by (node) (bulwark_pg_replication_lag_seconds{${sel}})`, legend: '{{node}}' }], 0, 20),
    panel(7, 'Connections', 'short', [
      { expr: `sum by (frontend) (bulwark_frontend_connections_active{${sel},role="lb"})`, legend: '{{frontend}}' },
      { expr: `sum by (node) (bulwark_pg_connections{${sel}})`, legend: '{{node}} postgres' },
    ], 12, 20),
    panel(8, 'VIP holder', 'short', [{ expr: `bulwark_vip_active{${sel}}`, legend: '{{node}}' }], 0, 28),
    panel(9, 'Event-loop lag p99', 's', [{ expr: `bulwark_nodejs_eventloop_lag_p99_seconds{${sel}}`, legend: '{{node}}' }], 12, 28),
  ];
  const dashboard = {
    __inputs: [{ name: 'DS_PROMETHEUS', label: 'Prometheus', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' }],
    title: `Bulwark ${spec.cluster}`,
    uid: `bulwark-${spec.cluster}`.slice(0, 40),
    tags: ['bulwark'],
    schemaVersion: 39,
    version: 1,
    refresh: '5s',
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    panels,
    annotations: { list: [] },
    templating: { list: [] },
  };
  return JSON.stringify(dashboard, null, 2) + '\n';
}
