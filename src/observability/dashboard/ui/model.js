// @ts-check
/**
 * The API's shapes (the contract with the monitor's server) and the pure derivations the page
 * renders from them: the topology's tiers with each node's state, and the one-line summary.
 * No DOM here, so Node unit-tests it.
 */
import { formatBytes, formatSeconds } from './format.js';

/**
 * @typedef {{ name: string, role: string, address: string, up: boolean, healthy: boolean, detail?: string | null }} ApiNode
 * @typedef {{ name: string, address: string, up: boolean, backup: boolean, draining: boolean }} ApiServer
 * @typedef {{ vip: string | null, active: string | null, standby: { node: string, state: string }[], backends: { name: string, servers: ApiServer[] }[] }} ApiEdge
 * @typedef {{ name: string, role: string, lagBytes: number | null, lagSeconds: number | null, sync: boolean, streaming: boolean }} ApiMember
 * @typedef {{ primary: string | null, timeline: number | null, mode: string, members: ApiMember[] }} ApiDatabase
 * @typedef {{ name: string, severity: string, state: 'firing' | 'pending', labels: Record<string, string>, annotations: Record<string, string>, since: string }} ApiAlert
 * @typedef {{ cluster: string, generatedAt: string, nodes: ApiNode[], edge: ApiEdge | null, database: ApiDatabase | null, alerts: ApiAlert[] }} Overview
 * @typedef {{ at: string, kind: string, node?: string | null, message: string }} ApiEvent
 * @typedef {{ name: string, unit: string, series: { label: string, points: [number, number | null][] }[] }} ApiSeries
 */

/**
 * @typedef {'ok' | 'warn' | 'bad' | 'idle'} Health
 * @typedef {{ text: string, tone: 'accent' | 'ha' | 'ok' | 'warn' | 'bad' | 'muted', title?: string }} Badge
 * @typedef {{ name: string, role: string, address: string, health: Health, status: string,
 *   badges: Badge[], facts: string[], detail: string | null, showDetail: boolean }} NodeView
 * @typedef {{ id: string, title: string, nodes: NodeView[], note: string }} TierView
 */

/** @type {[string, string][]} role, heading */
const TIERS = [
  ['lb', 'Edge'],
  ['web', 'Web'],
  ['db', 'Database'],
  ['monitor', 'Monitor'],
];

/**
 * The node's own health: down (agent unreachable), unhealthy (answers but /health fails), up.
 * @param {ApiNode} n
 * @returns {{ health: Health, status: string }}
 */
export function nodeHealth(n) {
  if (!n.up) return { health: 'bad', status: 'down' };
  if (!n.healthy) return { health: 'warn', status: 'unhealthy' };
  return { health: 'ok', status: 'up' };
}

/** @param {string} address "127.0.1.11:3000" or "[::1]:3000" → the host part */
function hostOf(address) {
  const m = /^\[?([^\]]*?)\]?(?::\d+)?$/.exec(address);
  return m?.[1] ?? address;
}

/**
 * @param {ApiNode} n
 * @param {ApiEdge | null} edge
 * @returns {Pick<NodeView, 'badges' | 'facts'> & { worse?: Health }}
 */
function lbDetails(n, edge) {
  if (!edge) return { badges: [], facts: [] };
  /** @type {Badge[]} */
  const badges = [];
  if (edge.active === n.name) badges.push({ text: edge.vip ? `VIP ${edge.vip}` : 'active', tone: 'accent', title: 'This load balancer holds the virtual IP and serves the traffic' });
  else {
    const st = edge.standby.find((x) => x.node === n.name)?.state;
    if (st && n.up) badges.push({ text: st, tone: 'muted' });
  }
  return { badges, facts: [] };
}

/**
 * Where a web node sits in the edge's backends: up, down (ejected), draining, backup.
 * @param {ApiNode} n
 * @param {ApiEdge | null} edge
 */
function webDetails(n, edge) {
  /** @type {Badge[]} */
  const badges = [];
  /** @type {Health | undefined} */
  let worse;
  for (const b of edge?.backends ?? []) {
    for (const srv of b.servers) {
      if (srv.name !== n.name && hostOf(srv.address) !== n.address) continue;
      const where = edge && edge.backends.length > 1 ? `${b.name}: ` : '';
      if (!srv.up) { badges.push({ text: `${where}out of rotation`, tone: 'bad', title: `The edge marks ${srv.name} (${srv.address}) in backend ${b.name} as down` }); worse = 'bad'; }
      else if (srv.draining) { badges.push({ text: `${where}draining`, tone: 'warn' }); worse ??= 'warn'; }
      else badges.push({ text: `${where}in rotation`, tone: 'ok', title: `Serving backend ${b.name} at ${srv.address}` });
      if (srv.backup) badges.push({ text: 'backup', tone: 'muted', title: 'Used only when every non-backup server is down' });
    }
  }
  return { badges, facts: [], worse };
}

/**
 * @param {ApiNode} n
 * @param {ApiDatabase | null} db
 */
function dbDetails(n, db) {
  /** @type {Badge[]} */
  const badges = [];
  /** @type {string[]} */
  const facts = [];
  /** @type {Health | undefined} */
  let worse;
  if (!db) return { badges, facts };
  const m = db.members.find((x) => x.name === n.name);
  if (db.primary === n.name) {
    badges.push({ text: 'primary', tone: 'accent', title: 'Holds the leader lock and takes the writes' });
    if (db.timeline !== null && db.timeline !== undefined) facts.push(`timeline ${db.timeline}`);
  } else if (m && m.role === 'replica') {
    badges.push({ text: 'replica', tone: 'muted' });
    if (m.sync) badges.push({ text: 'sync', tone: 'ok', title: 'Synchronous standby: promotable without losing acknowledged writes' });
    if (!m.streaming && n.up) { badges.push({ text: 'not streaming', tone: 'bad' }); worse = 'bad'; }
    const lag = [];
    if (m.lagBytes !== null && m.lagBytes !== undefined) lag.push(formatBytes(m.lagBytes));
    if (m.lagSeconds !== null && m.lagSeconds !== undefined) lag.push(formatSeconds(m.lagSeconds));
    if (lag.length) facts.push(`lag ${lag.join(' · ')}`);
  } else if (m && n.up && m.role && m.role !== 'unknown') {
    badges.push({ text: m.role, tone: 'muted' });
  }
  return { badges, facts, worse };
}

/** @param {Health} a @param {Health | undefined} b */
const worst = (a, b) => {
  const order = ['ok', 'idle', 'warn', 'bad'];
  return b && order.indexOf(b) > order.indexOf(a) ? b : a;
};

/**
 * The tiers lb → web → db, then monitor; roles the page does not know go last, as they come.
 * @param {Overview} o
 * @returns {TierView[]}
 */
export function topology(o) {
  const known = new Set(TIERS.map(([r]) => r));
  const extraRoles = [...new Set(o.nodes.map((n) => n.role).filter((r) => !known.has(r)))];
  /** @type {[string, string][]} */
  const tiers = [...TIERS, ...extraRoles.map((r) => /** @type {[string, string]} */ ([r, r]))];
  return tiers.map(([role, title]) => {
    const nodes = o.nodes.filter((n) => n.role === role).map((n) => {
      const { health, status } = nodeHealth(n);
      const extra = role === 'lb' ? lbDetails(n, o.edge) : role === 'web' ? webDetails(n, o.edge) : role === 'db' ? dbDetails(n, o.database) : { badges: [], facts: [] };
      return {
        name: n.name, role: n.role, address: n.address,
        health: n.up ? worst(health, 'worse' in extra ? extra.worse : undefined) : health,
        status, badges: n.up ? extra.badges : extra.badges.filter((b) => b.tone === 'accent'),
        facts: n.up ? extra.facts : [],
        // A healthy node's detail ("app running…") is a tooltip; a sick node's is the point.
        detail: n.detail || null, showDetail: health !== 'ok' && Boolean(n.detail),
      };
    });
    const healthy = nodes.filter((n) => n.health === 'ok').length;
    return { id: role, title, nodes, note: nodes.length ? `${healthy}/${nodes.length} healthy` : 'none' };
  }).filter((t) => t.nodes.length > 0);
}

/**
 * The glance line: nodes up, who holds the VIP, the primary, alerts.
 * @param {Overview} o
 * @returns {{ label: string, value: string, tone: 'ok' | 'warn' | 'bad' | 'muted' }[]}
 */
export function summary(o) {
  const up = o.nodes.filter((n) => n.up && n.healthy).length;
  const firing = o.alerts.filter((a) => a.state === 'firing').length;
  const pending = o.alerts.length - firing;
  /** @type {{ label: string, value: string, tone: 'ok' | 'warn' | 'bad' | 'muted' }[]} */
  const items = [{ label: 'Nodes healthy', value: `${up}/${o.nodes.length}`, tone: up === o.nodes.length ? 'ok' : up === 0 ? 'bad' : 'warn' }];
  if (o.edge) items.push({ label: 'VIP holder', value: o.edge.active ?? 'none', tone: o.edge.active ? 'ok' : 'bad' });
  if (o.database) {
    const tl = o.database.timeline !== null && o.database.timeline !== undefined ? ` · tl ${o.database.timeline}` : '';
    items.push({ label: 'Primary', value: o.database.primary ? `${o.database.primary}${tl}` : 'none', tone: o.database.primary ? 'ok' : 'bad' });
  }
  items.push({ label: 'Alerts', value: firing || pending ? `${firing} firing${pending ? ` · ${pending} pending` : ''}` : 'none', tone: firing ? 'bad' : pending ? 'warn' : 'ok' });
  return items;
}

/** A stable identity for an event, to merge the live stream with a re-fetched page. @param {ApiEvent} e */
export function eventKey(e) {
  return `${e.at}|${e.kind}|${e.node ?? ''}|${e.message}`;
}

/**
 * Merges fresh events into the known list: newest first, no duplicates, at most `max`.
 * @param {ApiEvent[]} known
 * @param {ApiEvent[]} fresh
 * @param {number} max
 */
export function mergeEvents(known, fresh, max) {
  const seen = new Set(known.map(eventKey));
  const added = fresh.filter((e) => !seen.has(eventKey(e)));
  if (added.length === 0) return known;
  return [...added, ...known].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, max);
}
