/**
 * The cluster as one scrape round saw it (the dashboard's overview), and the events between two
 * consecutive views: a node stopping or coming back, the VIP changing hands, the primary
 * changing (failover, or switchover when the old primary still answers), servers going down or
 * up, ejections and bans. The first view after a start is a baseline: it produces no events.
 */
import type { ClusterSpec } from '../../config/types.js';
import type { MonitorEvent } from '../store/history.js';
import type { Round } from './scraper.js';

export interface OverviewAlert {
  name: string;
  severity: string;
  state: 'firing' | 'pending';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  since: string;
}

export interface Overview {
  cluster: string;
  generatedAt: string;
  nodes: { name: string; role: string; address: string; up: boolean; healthy: boolean; detail: string }[];
  edge: {
    vip: string;
    active: string | null;
    standby: { node: string; state: string }[];
    backends: { name: string; servers: { name: string; address: string; up: boolean; backup: boolean; draining: boolean }[] }[];
  };
  database: {
    primary: string | null;
    timeline: number | null;
    mode: string;
    members: { name: string; role: string; lagBytes: number | null; lagSeconds: number | null; sync: boolean; streaming: boolean }[];
  } | null;
  alerts: OverviewAlert[];
}

type ServerStatus = { name: string; address: string; up: boolean; backup: boolean; draining: boolean; ejections?: number };
type LbStatus = { holdsVip?: boolean; standby?: { state?: string } | null; backends?: { name: string; servers: ServerStatus[] }[] };
type DbStatus = { role?: string; holdsLock?: boolean; timeline?: number | null; lagBytes?: number | null; streamingFrom?: string | null; sync?: { members?: string[] } | null };

/** Topology facts the events are derived from (kept with the overview). */
export interface TopologyFacts {
  up: Map<string, { up: boolean; error?: string }>;
  vipHolder: string | null | undefined;
  /** The last lb seen holding the VIP (set by topologyEvents). */
  lastVipHolder?: string | null;
  primary: string | null | undefined;
  servers: Map<string, { up: boolean; ejections: number }>;
  bans: Set<string>;
  banDetails: Map<string, { frontend: string; client: string; until: string; node: string }>;
}

export function buildOverview(spec: ClusterSpec, round: Round, lagSeconds: (node: string) => number | null, alerts: OverviewAlert[]): { overview: Overview; facts: TopologyFacts } {
  const byName = new Map(round.targets.map((t) => [t.node.name, t]));
  const statusOf = (name: string): Record<string, unknown> | undefined => byName.get(name)?.status;
  const nodes = spec.nodes.map((n) => {
    const t = byName.get(n.name);
    const st = t?.status;
    return {
      name: n.name, role: n.role, address: n.address, up: t?.up ?? false,
      healthy: Boolean(st?.['healthy']) && (t?.up ?? false),
      detail: typeof st?.['detail'] === 'string' ? st['detail'] : t?.error ?? 'not scraped yet',
    };
  });
  const lbs = spec.nodes.filter((n) => n.role === 'lb');
  const lbStatus = (name: string): LbStatus | undefined => statusOf(name)?.['lb'] as LbStatus | undefined;
  const active = lbs.find((n) => lbStatus(n.name)?.holdsVip)?.name ?? null;
  // Backend health as the active lb sees it (else any lb that answered).
  const source = (active && lbStatus(active)) || lbs.map((n) => lbStatus(n.name)).find((s) => s?.backends);
  const edge: Overview['edge'] = {
    vip: spec.edge.vip,
    active,
    standby: lbs.map((n) => ({ node: n.name, state: byName.get(n.name)?.up ? lbStatus(n.name)?.standby?.state ?? (lbs.length === 1 ? 'active' : 'unknown') : 'unreachable' })),
    backends: spec.edge.backends.map((b) => {
      const live = source?.backends?.find((x) => x.name === b.name);
      return {
        name: b.name,
        servers: b.servers.map((s) => {
          const ls = live?.servers.find((x) => x.name === s.name);
          const host = s.host.includes(':') ? `[${s.host}]` : s.host;
          return { name: s.name, address: `${host}:${s.port}`, up: ls?.up ?? false, backup: s.backup, draining: ls?.draining ?? false };
        }),
      };
    }),
  };
  let database: Overview['database'] = null;
  let primary: string | null | undefined;
  if (spec.database) {
    const dbs = spec.nodes.filter((n) => n.role === 'db');
    const dbStatus = (name: string): DbStatus | undefined => statusOf(name)?.['db'] as DbStatus | undefined;
    primary = dbs.find((n) => dbStatus(n.name)?.holdsLock && dbStatus(n.name)?.role === 'primary')?.name ?? null;
    const syncSet = (primary ? dbStatus(primary)?.sync?.members : undefined) ?? dbs.map((n) => dbStatus(n.name)?.sync?.members).find((m) => m) ?? [];
    database = {
      primary,
      timeline: primary ? dbStatus(primary)?.timeline ?? null : null,
      mode: spec.database.mode,
      members: dbs.map((n) => {
        const s = dbStatus(n.name);
        const isPrimary = n.name === primary;
        return {
          name: n.name,
          role: byName.get(n.name)?.up ? s?.role ?? 'unknown' : 'unreachable',
          lagBytes: isPrimary ? 0 : s?.lagBytes ?? null,
          lagSeconds: isPrimary ? 0 : lagSeconds(n.name),
          sync: syncSet.includes(n.name),
          streaming: !isPrimary && s?.role === 'replica' && primary !== null && s.streamingFrom === primary,
        };
      }),
    };
  }
  const servers = new Map<string, { up: boolean; ejections: number }>();
  for (const b of source?.backends ?? []) for (const s of b.servers) servers.set(`${b.name}/${s.name}`, { up: s.up, ejections: s.ejections ?? 0 });
  const banDetails = new Map<string, { frontend: string; client: string; until: string; node: string }>();
  for (const t of round.targets) for (const b of t.bans ?? []) banDetails.set(`${t.node.name}/${b.frontend}/${b.client}`, { ...b, node: t.node.name });
  const facts: TopologyFacts = {
    up: new Map(round.targets.map((t) => [t.node.name, { up: t.up, ...(t.error !== undefined && { error: t.error }) }])),
    // Unknown (undefined) when no lb answered: no takeover can be told from that.
    vipHolder: lbs.some((n) => byName.get(n.name)?.up) ? active : undefined,
    primary: spec.database && spec.nodes.some((n) => n.role === 'db' && byName.get(n.name)?.up) ? primary : undefined,
    servers: source ? servers : new Map(),
    bans: new Set(banDetails.keys()),
    banDetails,
  };
  return {
    overview: { cluster: spec.cluster, generatedAt: new Date(round.t).toISOString(), nodes, edge, database, alerts },
    facts,
  };
}

export function topologyEvents(prev: TopologyFacts | undefined, next: TopologyFacts, at: number): MonitorEvent[] {
  if (!prev) return [];
  const iso = new Date(at).toISOString();
  const out: MonitorEvent[] = [];
  for (const [node, n] of next.up) {
    const p = prev.up.get(node);
    if (!p || p.up === n.up) continue;
    out.push(n.up
      ? { at: iso, kind: 'node-up', node, message: `${node} answers again` }
      : { at: iso, kind: 'node-down', node, message: `${node} stopped answering${n.error ? `: ${n.error}` : ''}` });
  }
  // A takeover passes through a moment when nobody holds the VIP: one event, from the last holder.
  next.lastVipHolder = next.vipHolder ?? prev.lastVipHolder ?? prev.vipHolder ?? null;
  const lastHolder = prev.lastVipHolder ?? prev.vipHolder;
  if (next.vipHolder && lastHolder !== undefined && next.vipHolder !== lastHolder) {
    out.push({ at: iso, kind: 'takeover', node: next.vipHolder, message: lastHolder ? `${next.vipHolder} took the VIP over from ${lastHolder}` : `${next.vipHolder} holds the VIP (nobody did)` });
  }
  if (prev.primary !== undefined && next.primary !== undefined && prev.primary !== next.primary) {
    if (next.primary === null) out.push({ at: iso, kind: 'no-primary', ...(prev.primary && { node: prev.primary }), message: `no primary (${prev.primary} was)` });
    else if (prev.primary === null) out.push({ at: iso, kind: 'failover', node: next.primary, message: `${next.primary} is the primary` });
    else {
      // Planned when the old primary still answers (it handed over); unplanned when it is gone.
      const planned = next.up.get(prev.primary)?.up === true;
      out.push({ at: iso, kind: planned ? 'switchover' : 'failover', node: next.primary, message: `${planned ? 'switchover' : 'failover'}: ${next.primary} replaced ${prev.primary} as the primary` });
    }
  }
  for (const [key, s] of next.servers) {
    const p = prev.servers.get(key);
    if (!p) continue;
    const [backend, server] = key.split('/') as [string, string];
    if (p.up !== s.up) out.push({ at: iso, kind: s.up ? 'server-up' : 'server-down', node: server, message: `server ${server} of backend ${backend} is ${s.up ? 'up' : 'down'}` });
    if (s.ejections > p.ejections) out.push({ at: iso, kind: 'ejected', node: server, message: `server ${server} of backend ${backend} was ejected by passive health` });
  }
  for (const key of next.bans) {
    if (prev.bans.has(key)) continue;
    const b = next.banDetails.get(key)!;
    out.push({ at: iso, kind: 'ban', node: b.node, message: `${b.client} banned on frontend ${b.frontend} of ${b.node} until ${b.until}` });
  }
  return out;
}
