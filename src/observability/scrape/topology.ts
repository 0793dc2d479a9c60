/**
 * The cluster as one scrape round saw it (the dashboard's overview), and the events between two
 * consecutive views: a node stopping or coming back, the VIP changing hands, the primary
 * changing (failover, or switchover when the new primary promoted for a hand-over), servers going down or
 * up, ejections and bans. The first view after a start is a baseline: it produces no events.
 *
 * With 1 s scrapes a change of hands is seen in steps (a round where nobody holds the VIP or no
 * member is primary), so the last holder and the last primary are carried across such rounds:
 * the event names who replaced whom, not "someone appeared". Each lb's server view is kept apart,
 * because the lbs' counters and health checks are their own: comparing the new active lb's
 * ejection counter with the old one's would invent (or hide) an ejection at every takeover.
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
type DbStatus = { role?: string; holdsLock?: boolean; promotion?: { planned?: boolean } | null; timeline?: number | null; lagBytes?: number | null; streamingFrom?: string | null; sync?: { members?: string[] } | null };

/** Topology facts the events are derived from (kept with the overview). */
export interface TopologyFacts {
  up: Map<string, { up: boolean; error?: string }>;
  /** Who holds the VIP; null when nobody does, undefined when no lb answered (unknown). */
  vipHolder: string | null | undefined;
  /** The last lb seen holding the VIP, carried across rounds where nobody did (set by topologyEvents). */
  lastVipHolder?: string | null;
  /** The lock-holding primary; null when there is none, undefined when no db member answered. */
  primary: string | null | undefined;
  /** The last primary seen, carried across rounds without one (set by topologyEvents). */
  lastPrimary?: string | null;
  /**
   * Whether the primary says its promotion was a planned hand-over (undefined when it does not
   * say: an older agent, or no primary); only it knows, see HaState.promotion.
   */
  primaryPlanned?: boolean | undefined;
  /** Each answering lb's view of its servers: lb → `backend/server` → state and ejection counter. */
  serverViews: Map<string, Map<string, { up: boolean; ejections: number }>>;
  /** The lb whose view is the cluster's (the VIP holder, else the first lb that answered). */
  serverSource: string | undefined;
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
  const sourceName = active && lbStatus(active) ? active : lbs.find((n) => lbStatus(n.name)?.backends)?.name;
  const source = sourceName === undefined ? undefined : lbStatus(sourceName);
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
  const serverViews = new Map<string, Map<string, { up: boolean; ejections: number }>>();
  for (const lb of lbs) {
    const backends = lbStatus(lb.name)?.backends;
    if (!backends) continue;
    const view = new Map<string, { up: boolean; ejections: number }>();
    for (const b of backends) for (const s of b.servers) view.set(`${b.name}/${s.name}`, { up: s.up, ejections: s.ejections ?? 0 });
    serverViews.set(lb.name, view);
  }
  const banDetails = new Map<string, { frontend: string; client: string; until: string; node: string }>();
  for (const t of round.targets) for (const b of t.bans ?? []) banDetails.set(`${t.node.name}/${b.frontend}/${b.client}`, { ...b, node: t.node.name });
  const facts: TopologyFacts = {
    up: new Map(round.targets.map((t) => [t.node.name, { up: t.up, ...(t.error !== undefined && { error: t.error }) }])),
    // Unknown (undefined) when no lb answered: no takeover can be told from that.
    vipHolder: lbs.some((n) => byName.get(n.name)?.up) ? active : undefined,
    primary: spec.database && spec.nodes.some((n) => n.role === 'db' && byName.get(n.name)?.up) ? primary : undefined,
    primaryPlanned: primary ? (statusOf(primary)?.['db'] as DbStatus | undefined)?.promotion?.planned : undefined,
    serverViews,
    serverSource: sourceName,
    bans: new Set(banDetails.keys()),
    banDetails,
  };
  return {
    overview: { cluster: spec.cluster, generatedAt: new Date(round.t).toISOString(), nodes, edge, database, alerts },
    facts,
  };
}

export function topologyEvents(prev: TopologyFacts | undefined, next: TopologyFacts, at: number): MonitorEvent[] {
  // Who held the VIP and who was primary last, across rounds where nobody was (or nobody answered).
  // (Every view passed through here, so its carried values are set whenever its own are.)
  const lastHolder = prev?.lastVipHolder;
  const lastPrimary = prev?.lastPrimary;
  next.lastVipHolder = carried(next.vipHolder, lastHolder);
  next.lastPrimary = carried(next.primary, lastPrimary);
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
  if (next.vipHolder && lastHolder !== undefined && next.vipHolder !== lastHolder) {
    out.push(lastHolder
      ? { at: iso, kind: 'takeover', node: next.vipHolder, message: `${next.vipHolder} took the VIP over from ${lastHolder}` }
      // Nobody held it before (the cluster starting): an election, not a takeover.
      : { at: iso, kind: 'vip', node: next.vipHolder, message: `${next.vipHolder} holds the VIP (nobody did)` });
  }
  if (prev.primary && next.primary === null) out.push({ at: iso, kind: 'no-primary', node: prev.primary, message: `no primary (${prev.primary} was)` });
  if (next.primary && lastPrimary !== undefined && next.primary !== lastPrimary) {
    if (lastPrimary === null) {
      // The first primary the monitor sees (the cluster's bootstrap): nobody was replaced.
      out.push({ at: iso, kind: 'primary', node: next.primary, message: `${next.primary} is the primary` });
    } else {
      // The new primary knows whether it promoted for a switchover; an agent that does not say
      // is judged by whether the old primary still answers (it handed over) or is gone.
      const planned = next.primaryPlanned ?? next.up.get(lastPrimary)?.up === true;
      const kind = planned ? 'switchover' : 'failover';
      out.push({ at: iso, kind, node: next.primary, message: `${kind}: ${next.primary} replaced ${lastPrimary} as the primary` });
    }
  } else if (next.primary && prev.primary === null) {
    // The same member again after a round without a primary (it re-took its lock): not a change of hands.
    out.push({ at: iso, kind: 'primary', node: next.primary, message: `${next.primary} is the primary again` });
  }
  // Up/down from the cluster's view, compared with what that same lb saw before.
  const source = next.serverSource === undefined ? undefined : next.serverViews.get(next.serverSource);
  const sourceBefore = next.serverSource === undefined ? undefined : prev.serverViews.get(next.serverSource);
  for (const [key, s] of source ?? []) {
    const p = sourceBefore?.get(key);
    if (!p || p.up === s.up) continue;
    const [backend, server] = key.split('/') as [string, string];
    out.push({ at: iso, kind: s.up ? 'server-up' : 'server-down', node: server, message: `server ${server} of backend ${backend} is ${s.up ? 'up' : 'down'}` });
  }
  // Ejections: each lb's counter against its own previous value (a restarted lb starts again at 0).
  const ejected = new Map<string, string[]>();
  for (const [lb, view] of next.serverViews) {
    const before = prev.serverViews.get(lb);
    for (const [key, s] of view) {
      const p = before?.get(key);
      if (p && s.ejections > p.ejections) ejected.set(key, [...ejected.get(key) ?? [], lb]);
    }
  }
  for (const [key, by] of ejected) {
    const [backend, server] = key.split('/') as [string, string];
    out.push({ at: iso, kind: 'ejected', node: server, message: `server ${server} of backend ${backend} was ejected by passive health (on ${by.join(', ')})` });
  }
  for (const key of next.bans) {
    if (prev.bans.has(key)) continue;
    const b = next.banDetails.get(key)!;
    out.push({ at: iso, kind: 'ban', node: b.node, message: `${b.client} banned on frontend ${b.frontend} of ${b.node} until ${b.until}` });
  }
  return out;
}

/** Who it is now; else who it was last (a known "nobody" included); else unknown. */
function carried(now: string | null | undefined, last: string | null | undefined): string | null | undefined {
  if (now) return now;
  return last !== undefined ? last : now;
}
