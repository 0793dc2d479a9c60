/** Schema + defaults for `database`: replication mode, HA timing, the DCS and the db router. */
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import type { MapView } from './reader.js';
import type { DatabaseSpec, DcsSpec, NodeSpec } from './types.js';
import { label, parseHostPort } from './value-rules.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function readDatabase(top: MapView, nodes: readonly NodeSpec[]): DatabaseSpec | undefined {
  const dbNodes = nodes.filter((n) => n.role === 'db');
  const m = top.map('database', KEYS.database);
  if (!m && dbNodes.length === 0) return undefined;
  const r = top.reader;
  const d = DEFAULTS.database;
  if (m && dbNodes.length === 0) r.issues.add(top.at('database'), 'a database section needs at least one node with role db');
  const ident = (key: string, fallback: string): string => {
    const v = m?.str(key);
    if (v !== undefined && !IDENT.test(v)) r.issues.add(m!.at(key), `must be a lower-case SQL identifier (letters, digits, _), got ${JSON.stringify(v)}`);
    return v ?? fallback;
  };
  const ttlMs = m?.duration('ttl') ?? d.ttlMs;
  const loopMs = m?.duration('loop') ?? d.loopMs;
  if (m && loopMs * 2 > ttlMs) r.issues.add(m.at('loop'), `must be at most half of ttl (${ttlMs}ms) so the primary renews at least twice per TTL`);
  const router = m?.map('router', KEYS.router);
  const binDir = m?.str('bin_dir');
  const parameters: Record<string, string> = {};
  const params = m?.map('parameters', null);
  for (const key of params?.keys() ?? []) {
    const v = params!.get(key);
    if (v && v.kind === 'scalar') parameters[key] = String(v.value);
    else r.issues.add(params!.at(key), 'must be a single value (a string, number or boolean)');
  }
  return {
    mode: m?.oneOf('mode', ['async', 'sync'] as const) ?? (d.mode as 'sync'),
    strict: m?.bool('strict') ?? d.strict,
    port: m?.port('port') ?? d.port,
    name: ident('name', d.name),
    user: ident('user', d.user),
    ...(binDir !== undefined && { binDir }),
    ttlMs,
    loopMs,
    maximumLagOnFailoverBytes: m?.size('maximum_lag_on_failover') ?? d.maximumLagOnFailoverBytes,
    failsafe: m?.bool('failsafe') ?? d.failsafe,
    dcs: readDcs(m?.map('dcs', KEYS.dcs), nodes),
    router: {
      rwPort: router?.port('rw_port') ?? d.router.rwPort,
      roPort: router?.port('ro_port') ?? d.router.roPort,
      maxLagBytes: router?.size('max_lag') ?? d.router.maxLagBytes,
      checkIntervalMs: router?.duration('check_interval') ?? d.router.checkIntervalMs,
    },
    parameters,
  };
}

/** Default: the embedded store on the first monitor node, else on the first db node. */
function readDcs(m: MapView | undefined, nodes: readonly NodeSpec[]): DcsSpec {
  const fallbackHost = (nodes.find((n) => n.role === 'monitor') ?? nodes.find((n) => n.role === 'db'))?.name ?? '';
  const type = m?.oneOf('type', ['embedded', 'etcd'] as const) ?? 'embedded';
  if (type === 'etcd') {
    const items = m?.list('endpoints', { required: true }) ?? [];
    const endpoints: string[] = [];
    for (const item of items) {
      const text = m!.reader.string(item.node, item.path);
      if (text === undefined) continue;
      if (!parseHostPort(text)) m!.reader.issues.add(item.path, `expected host:port of an etcd member, got ${JSON.stringify(text)}`, item.node.pos);
      else endpoints.push(text);
    }
    if (m?.has('node')) m.reader.issues.add(m.at('node'), '"node" is for the embedded store; etcd takes "endpoints"');
    return { type: 'etcd', endpoints, peerPort: m?.port('peer_port') ?? DEFAULTS.database.etcdPeerPort };
  }
  if (m?.has('endpoints')) m.reader.issues.add(m.at('endpoints'), '"endpoints" is for etcd; the embedded store takes "node"');
  if (m?.has('peer_port')) m.reader.issues.add(m.at('peer_port'), '"peer_port" is for etcd; the embedded store is served on its node\'s agent port');
  const node = (m && label(m, 'node')) ?? fallbackHost;
  const host = nodes.find((n) => n.name === node);
  if (m?.has('node') && !host) m.reader.issues.add(m.at('node'), `no node named ${JSON.stringify(node)} to host the embedded DCS`);
  return { type: 'embedded', node };
}
