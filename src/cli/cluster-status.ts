/**
 * `bulwark status`: asks every node's agent, then assembles the cluster view whose JSON fields
 * are a stable contract (DESIGN.md §4): scripts and drills read them.
 */
import type { ClusterSpec } from '../config/types.js';
import { callAgent } from './agent-client.js';
import type { EdgeStatus } from '../data-plane/index.js';

export interface NodeStatusView {
  name: string;
  role: string;
  address: string;
  agentPort: number;
  healthy: boolean;
  reachable: boolean;
  detail: string;
  pid?: number;
}

export interface ClusterStatusView {
  cluster: string;
  nodes: NodeStatusView[];
  edge?: {
    url: string;
    /** The first frontend served over HTTPS, on the VIP. */
    httpsUrl?: string;
    active: string | null;
    /** What each lb serves over HTTPS. */
    certificates: (CertStatus & { node: string })[];
    /** Each lb's side of the VIP election: state, since when (ISO time) and why. */
    standby: { node: string; state: string; since: string | null; reason: string }[];
    frontends: { name: string; mode: string; url: string }[];
    backends: { name: string; policy: string; queue: number; servers: { name: string; address: string; up: boolean; backup: boolean; draining: boolean; active: number; check: string }[] }[];
  };
  database?: {
    primary: string | null;
    timeline: number | null;
    mode: 'async' | 'sync';
    syncStandbys: string[];
    members: { name: string; role: string; lagBytes: number | null; sync: boolean; timeline: number | null; streamingFrom: string | null; state: string }[];
  };
  /** The dashboard, when the cluster has a monitor node; `error` when it did not answer. */
  monitor?: { url: string; node: string; reachable: boolean; error?: string };
  /** Firing alerts, as the monitor evaluates them (empty without a reachable monitor). */
  alerts: MonitorAlertView[];
}

export interface MonitorAlertView {
  name: string;
  severity: string;
  node: string | null;
  since: string;
  summary?: string | null;
}

type DbStatus = {
  role?: string; leader?: string | null; holdsLock?: boolean; timeline?: number | null; lagBytes?: number | null;
  streamingFrom?: string | null; sync?: { members?: string[] } | null; decision?: string | null;
};

type StandbyStatus = { state: string; since: number; reason: string };
type CertStatus = { names: string[]; notAfter: string; source: string; issuer?: string; serial?: string; reloadError?: string };
type AgentStatus = { healthy?: boolean; detail?: string; pid?: number; lb?: EdgeStatus & { holdsVip?: boolean; standby?: StandbyStatus; certificates?: CertStatus[] }; db?: DbStatus };

/** A certificate's expiry for tables: the minute in UTC (ACME test CAs issue certificates that live minutes). */
export function expiry(notAfter: string): string {
  return `${notAfter.slice(0, 10)} ${notAfter.slice(11, 16)}Z`;
}

export function urlOf(host: string, port: number, scheme: string): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function collectStatus(spec: ClusterSpec, timeoutMs = 1500): Promise<ClusterStatusView> {
  const mon = spec.nodes.find((n) => n.role === 'monitor');
  const [replies, alerts] = await Promise.all([
    Promise.all(spec.nodes.map((n) => callAgent<AgentStatus>(spec, n, 'GET', '/status', undefined, timeoutMs))),
    mon ? callAgent<{ url: string; alerts: MonitorAlertView[] }>(spec, mon, 'GET', '/monitor/alerts', undefined, timeoutMs) : undefined,
  ]);
  const nodes: NodeStatusView[] = spec.nodes.map((n, i) => {
    const r = replies[i]!;
    const body = r.ok ? r.body : undefined;
    return {
      name: n.name, role: n.role, address: n.address, agentPort: n.agentPort,
      healthy: Boolean(body?.healthy), reachable: r.ok,
      detail: body?.detail ?? r.error ?? `HTTP ${r.status}`,
      ...(body?.pid ? { pid: body.pid } : {}),
    };
  });
  const view: ClusterStatusView = { cluster: spec.cluster, nodes, alerts: [] };
  if (mon && alerts) {
    view.monitor = { url: alerts.body?.url ?? urlOf(mon.address, spec.monitor.port, 'https'), node: mon.name, reachable: alerts.ok, ...(!alerts.ok && { error: alerts.error ?? `HTTP ${alerts.status}` }) };
    if (alerts.ok) view.alerts = (alerts.body?.alerts ?? []).map((a) => ({ name: a.name, severity: a.severity, node: a.node, since: a.since, summary: a.summary ?? null }));
  }
  if (spec.nodes.some((n) => n.role === 'lb')) {
    const lbs = spec.nodes.map((n, i) => ({ n, body: replies[i]!.ok ? replies[i]!.body : undefined })).filter((x) => x.n.role === 'lb');
    const active = lbs.find((x) => x.body?.lb?.holdsVip);
    const source = active ?? lbs.find((x) => x.body?.lb);
    const http = spec.edge.frontends.find((f) => f.mode === 'http') ?? spec.edge.frontends[0];
    const https = spec.edge.frontends.find((f) => f.httpsPort !== undefined);
    view.edge = {
      url: http ? urlOf(spec.edge.vip, http.port, http.mode === 'http' ? 'http' : 'tcp') : '',
      ...(https && { httpsUrl: urlOf(spec.edge.vip, https.httpsPort!, 'https') }),
      active: active?.n.name ?? null,
      certificates: lbs.flatMap((x) => (x.body?.lb?.certificates ?? []).map((c) => ({ node: x.n.name, ...c }))),
      standby: lbs.map((x) => {
        const sb = x.body?.lb?.standby;
        return sb
          ? { node: x.n.name, state: sb.state, since: new Date(sb.since).toISOString(), reason: sb.reason }
          : { node: x.n.name, state: x.body ? 'unknown' : 'unreachable', since: null, reason: x.body ? '' : 'agent did not answer' };
      }),
      frontends: spec.edge.frontends.map((f) => ({ name: f.name, mode: f.mode, url: urlOf(spec.edge.vip, f.port, f.mode === 'http' ? 'http' : 'tcp') })),
      backends: spec.edge.backends.map((b) => {
        const live = source?.body?.lb?.backends?.find((x) => x.name === b.name);
        return {
          name: b.name, policy: b.balance.policy, queue: live?.queue ?? 0,
          servers: b.servers.map((s) => {
            const ls = live?.servers.find((x) => x.name === s.name);
            return {
              name: s.name, address: `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`, up: ls?.up ?? false,
              backup: s.backup, draining: ls?.draining ?? false, active: ls?.active ?? 0,
              check: ls ? `${ls.check.state}${ls.check.detail ? ` (${ls.check.detail})` : ''}${ls.ejected ? ', ejected' : ''}` : 'unknown (no lb answered)',
            };
          }),
        };
      }),
    };
  }
  if (spec.database) {
    const dbs = spec.nodes.map((n, i) => ({ n, body: replies[i]!.ok ? replies[i]!.body : undefined })).filter((x) => x.n.role === 'db');
    const primary = dbs.find((x) => x.body?.db?.holdsLock && x.body.db.role === 'primary');
    const syncSet = primary?.body?.db?.sync?.members ?? dbs.find((x) => x.body?.db?.sync)?.body?.db?.sync?.members ?? [];
    view.database = {
      primary: primary?.n.name ?? null,
      timeline: primary?.body?.db?.timeline ?? null,
      mode: spec.database.mode,
      syncStandbys: [...syncSet],
      members: dbs.map((x) => ({
        name: x.n.name,
        role: x.body?.db?.role ?? 'unreachable',
        lagBytes: x.body?.db?.role === 'primary' ? 0 : (x.body?.db?.lagBytes ?? null),
        sync: syncSet.includes(x.n.name),
        timeline: x.body?.db?.timeline ?? null,
        streamingFrom: x.body?.db?.streamingFrom ?? null,
        state: x.body?.db?.decision ?? x.body?.detail ?? 'no answer',
      })),
    };
  }
  return view;
}
