/**
 * The alert rules a monitor evaluates: the built-in ones (each only where the cluster has what it
 * watches), tuned or disabled by the cluster file, plus the file's own. Every expression is in
 * the PromQL subset of promql/parse.ts, so `bulwark monitor export` writes the same text into a
 * Prometheus rule file.
 */
import type { ClusterSpec, MonitorRuleSpec, Severity } from '../../config/types.js';
import type { BuiltInAlert } from '../../config/schema-monitor.js';
import { parseExpr, type Expr } from '../promql/parse.js';

export interface AlertRule {
  readonly name: string;
  readonly expr: string;
  readonly ast: Expr;
  readonly forMs: number;
  readonly severity: Severity;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly builtIn: boolean;
}

interface BuiltIn {
  readonly expr: string;
  readonly forMs: number;
  readonly severity: Severity;
  readonly summary: string;
  readonly description: string;
  /** Only in clusters that have this. */
  readonly needs?: 'edge' | 'database';
}

const DAY = 86_400;

export const BUILT_IN_RULES: Readonly<Record<BuiltInAlert, BuiltIn>> = {
  NodeDown: {
    expr: 'up{job="bulwark"} == 0', forMs: 10_000, severity: 'critical',
    summary: 'node {{ $labels.node }} is down',
    description: 'The monitor cannot scrape the agent of {{ $labels.node }} ({{ $labels.role }}) at {{ $labels.instance }}.',
  },
  // An agent that answers while its role does not do its job (PostgreSQL stopped, the app or its
  // health check down, the edge not started): NodeDown cannot see it, and a stopped replica
  // exports no streaming gauge for ReplicaNotStreaming to read. 30 s rides out restarts and the
  // promotion/demotion of a switchover.
  NodeUnhealthy: {
    expr: 'bulwark_node_healthy == 0', forMs: 30_000, severity: 'warning',
    summary: 'node {{ $labels.node }} ({{ $labels.role }}) is unhealthy',
    description: 'The agent of {{ $labels.node }} answers but reports that its {{ $labels.role }} role is not doing its job (for a db member: PostgreSQL is not running); `bulwark status` says why.',
  },
  ServerDown: {
    expr: 'max by (cluster, backend, server) (bulwark_backend_server_up{role="lb"}) == 0', forMs: 10_000, severity: 'warning', needs: 'edge',
    summary: 'server {{ $labels.server }} of backend {{ $labels.backend }} is down',
    description: 'No load balancer sees {{ $labels.server }} healthy: it fails its health checks or was ejected.',
  },
  BackendNoHealthyServer: {
    expr: 'max by (cluster, backend) (bulwark_backend_server_up{role="lb"}) == 0', forMs: 5000, severity: 'critical', needs: 'edge',
    summary: 'backend {{ $labels.backend }} has no healthy server',
    description: 'Every server of {{ $labels.backend }} is down: its requests fail with 503.',
  },
  NoPrimary: {
    expr: 'sum(bulwark_pg_primary) == 0 or absent(bulwark_pg_primary)', forMs: 15_000, severity: 'critical', needs: 'database',
    summary: 'the database has no primary',
    description: 'No db member holds the leader lock with a writable PostgreSQL: writes fail.',
  },
  ReplicaNotStreaming: {
    expr: 'bulwark_pg_replica_streaming == 0', forMs: 30_000, severity: 'warning', needs: 'database',
    summary: 'replica {{ $labels.node }} is not streaming',
    description: '{{ $labels.node }} runs as a replica but does not stream WAL from the current primary.',
  },
  ReplicationLagHigh: {
    expr: 'bulwark_pg_replication_lag_seconds > 30', forMs: 60_000, severity: 'warning', needs: 'database',
    summary: 'replica {{ $labels.node }} is {{ $value }}s behind',
    description: 'The last transaction {{ $labels.node }} replayed was committed {{ $value }}s ago and it has not caught up (an idle primary does not count).',
  },
  FailoverHappened: {
    expr: 'max(changes(bulwark_pg_timeline[5m])) > 0', forMs: 0, severity: 'warning', needs: 'database',
    summary: 'the database primary changed',
    description: 'A db member moved to a new timeline in the last 5 minutes: a failover or switchover happened.',
  },
  VipTakeover: {
    expr: 'sum(increase(bulwark_vip_peer_takeovers_total[5m])) > 0', forMs: 0, severity: 'warning', needs: 'edge',
    summary: 'another load balancer took the VIP over',
    description: 'An lb took the VIP from another one in the last 5 minutes (the active one died, lost its lease or was switched over).',
  },
  Http5xxRatioHigh: {
    expr: 'sum by (cluster, frontend) (rate(bulwark_http_requests_total{role="lb",code="5xx"}[2m])) / sum by (cluster, frontend) (rate(bulwark_http_requests_total{role="lb"}[2m])) > 0.05',
    forMs: 120_000, severity: 'warning', needs: 'edge',
    summary: 'frontend {{ $labels.frontend }} answers {{ $value }} of requests with 5xx',
    description: 'More than 5% of the requests on {{ $labels.frontend }} got a 5xx over the last 2 minutes.',
  },
  P99LatencyHigh: {
    expr: 'histogram_quantile(0.99, sum by (cluster, frontend, le) (rate(bulwark_http_request_duration_seconds_bucket{role="lb"}[5m]))) > 1',
    forMs: 300_000, severity: 'warning', needs: 'edge',
    summary: 'p99 latency of {{ $labels.frontend }} is {{ $value }}s',
    description: 'The 99th percentile of request durations on {{ $labels.frontend }} has been above 1s for 5 minutes.',
  },
  CertificateExpiring: {
    expr: `bulwark_tls_certificate_expiry_seconds < ${14 * DAY} or bulwark_agent_certificate_expiry_seconds < ${14 * DAY}`,
    forMs: 600_000, severity: 'warning',
    summary: 'a certificate on {{ $labels.node }} expires in {{ $value }}s',
    description: 'Certificate {{ $labels.certificate }} on {{ $labels.node }} has less than 14 days left and was not renewed.',
  },
  DiskNearlyFull: {
    expr: 'bulwark_disk_available_bytes / bulwark_disk_size_bytes < 0.1', forMs: 300_000, severity: 'warning',
    summary: 'disk of {{ $labels.node }} is nearly full',
    description: 'Less than 10% of the filesystem holding {{ $labels.path }} on {{ $labels.node }} is free ({{ $value }}).',
  },
};

/** Built-ins that apply to this cluster, with the file's tuning, then the file's own rules. */
export function alertRules(spec: Pick<ClusterSpec, 'monitor' | 'nodes' | 'database'>): AlertRule[] {
  const tuned = new Map<string, MonitorRuleSpec>(spec.monitor.rules.map((r) => [r.name, r]));
  const has = { edge: spec.nodes.some((n) => n.role === 'lb'), database: spec.database !== undefined };
  const out: AlertRule[] = [];
  for (const [name, b] of Object.entries(BUILT_IN_RULES) as [BuiltInAlert, BuiltIn][]) {
    const t = tuned.get(name);
    if (t?.enabled === false || (b.needs && !has[b.needs])) continue;
    const expr = t?.expr ?? b.expr;
    out.push({
      name, expr, ast: parseExpr(expr), forMs: t?.forMs ?? b.forMs, severity: t?.severity ?? b.severity,
      labels: { ...t?.labels }, annotations: { summary: b.summary, description: b.description, ...t?.annotations }, builtIn: true,
    });
  }
  for (const r of spec.monitor.rules) {
    if (r.name in BUILT_IN_RULES || !r.enabled || r.expr === undefined) continue;
    out.push({
      name: r.name, expr: r.expr, ast: parseExpr(r.expr), forMs: r.forMs ?? 0, severity: r.severity ?? 'warning',
      labels: { ...r.labels }, annotations: { ...r.annotations }, builtIn: false,
    });
  }
  return out;
}

/** `{{ $labels.x }}` and `{{ $value }}`, as Prometheus's templates write them. */
export function renderTemplate(text: string, labels: Readonly<Record<string, string>>, value: number): string {
  return text.replace(/\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, k: string) => labels[k] ?? '')
    .replace(/\{\{\s*\$value\s*\}\}/g, () => formatValue(value));
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}
