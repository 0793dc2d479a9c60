/** Schema + defaults for `edge`: vip, frontends (with routes) and backends (with servers). */
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import type { Item, MapView, Reader } from './reader.js';
import type {
  BackendSpec, BalancePolicy, BalanceSpec, EdgeSpec, FrontendSpec, HealthCheckSpec, NodeSpec, RouteSpec, ServerSpec,
} from './types.js';
import { readStandby } from './schema-standby.js';
import { readEdgeTls } from './schema-tls.js';
import { readEdgeFirewall } from './schema-edge-firewall.js';
import { hostPattern, hostPort, ipAddress, label, nodeName, statusList, token, urlPath } from './value-rules.js';

type Mode = 'http' | 'tcp';
const MODES: readonly Mode[] = ['http', 'tcp'];
const POLICIES: readonly BalancePolicy[] = ['roundrobin', 'leastconn', 'p2c', 'hash', 'sticky'];

/** `dir`: the cluster file's folder (relative certificate paths resolve against it). */
export function readEdge(top: MapView, nodes: readonly NodeSpec[], appPort: number, dir: string): EdgeSpec {
  const m = top.map('edge', KEYS.edge);
  // Without `edge` (allowed when no node has role lb) the edge is empty.
  if (!m) return { vip: '', standby: readStandby(undefined, []), frontends: [], backends: [] };
  const r = m.reader;
  const frontendItems = m.list('frontends', { required: true });
  if (frontendItems?.length === 0) r.issues.add(m.at('frontends'), 'must list at least one frontend');
  const frontends = (frontendItems ?? []).map((item) => readFrontend(r, item));
  const backendItems = m.list('backends', { required: true });
  if (backendItems?.length === 0) r.issues.add(m.at('backends'), 'must list at least one backend');
  const backends = (backendItems ?? []).map((item) => readBackend(r, item, frontends, nodes, appPort));
  const tls = readEdgeTls(m, dir);
  return { vip: ipAddress(m, 'vip', { required: true }) ?? '', standby: readStandby(m, nodes), ...(tls && { tls }), frontends, backends };
}

function readFrontend(r: Reader, item: Item): FrontendSpec {
  const m = r.map(item.node, item.path, KEYS.frontend);
  const d = DEFAULTS.frontend;
  const t = m?.map('timeouts', KEYS.frontendTimeouts);
  const l = m?.map('limits', KEYS.limits);
  const defaultBackend = m && label(m, 'default_backend');
  const httpsPort = m?.port('https_port');
  const firewall = m && readEdgeFirewall(m);
  return {
    name: (m && label(m, 'name', { required: true })) ?? '',
    mode: m?.oneOf('mode', MODES) ?? d.mode,
    port: m?.port('port', { required: true }) ?? 0,
    ...(httpsPort !== undefined && { httpsPort }),
    redirectToHttps: m?.bool('redirect_to_https') ?? d.redirectToHttps,
    routes: (m?.list('routes') ?? []).map((route) => readRoute(r, route)),
    ...(defaultBackend !== undefined && { defaultBackend }),
    timeouts: {
      requestHeaderMs: t?.duration('request_header') ?? d.timeouts.requestHeaderMs,
      keepAliveMs: t?.duration('keep_alive') ?? d.timeouts.keepAliveMs,
      idleMs: t?.duration('idle') ?? d.timeouts.idleMs,
    },
    limits: {
      maxHeaderBytes: l?.size('max_header_bytes') ?? d.limits.maxHeaderBytes,
      maxHeaders: l?.int('max_headers', { min: 1 }) ?? d.limits.maxHeaders,
      maxUrlBytes: l?.size('max_url_bytes') ?? d.limits.maxUrlBytes,
      maxBodyBytes: l?.size('max_body_bytes') ?? d.limits.maxBodyBytes,
    },
    accessLog: m?.bool('access_log') ?? d.accessLog,
    ...(firewall && { firewall }),
    proxyProtocol: m?.bool('proxy_protocol') ?? d.proxyProtocol,
  };
}

function readRoute(r: Reader, item: Item): RouteSpec {
  const m = r.map(item.node, item.path, KEYS.route);
  const host = m && hostPattern(m, 'host');
  return {
    ...(host !== undefined && { host }),
    pathPrefix: (m && urlPath(m, 'path_prefix')) ?? DEFAULTS.route.pathPrefix,
    backend: (m && label(m, 'backend', { required: true })) ?? '',
  };
}

function readBackend(
  r: Reader, item: Item, frontends: readonly FrontendSpec[], nodes: readonly NodeSpec[], appPort: number,
): BackendSpec {
  const m = r.map(item.node, item.path, KEYS.backend);
  const d = DEFAULTS.backend;
  const name = (m && label(m, 'name', { required: true })) ?? '';
  const usedBy = new Set(frontends.filter((f) => usesBackend(f, name)).map((f) => f.mode));
  const mode = m?.oneOf('mode', MODES) ?? (usedBy.size === 1 ? [...usedBy][0]! : d.mode);
  const serverItems = m?.list('servers', { required: true });
  if (m && serverItems?.length === 0) r.issues.add(m.at('servers'), 'must list at least one server');
  const p = m?.map('passive_health', KEYS.passiveHealth);
  const retries = m?.map('retries', KEYS.retries);
  const t = m?.map('timeouts', KEYS.backendTimeouts);
  const q = m?.map('queue', KEYS.queue);
  return {
    name,
    mode,
    balance: readBalance(m?.map('balance', KEYS.balance)),
    servers: (serverItems ?? []).map((s) => readServer(r, s, nodes, appPort)),
    healthCheck: readHealthCheck(m?.map('health_check', KEYS.healthCheck), mode),
    passiveHealth: {
      enabled: p?.bool('enabled') ?? d.passiveHealth.enabled,
      consecutiveFailures: p?.int('consecutive_failures', { min: 1 }) ?? d.passiveHealth.consecutiveFailures,
      ejectMs: p?.duration('eject') ?? d.passiveHealth.ejectMs,
      maxEjectMs: p?.duration('max_eject') ?? d.passiveHealth.maxEjectMs,
      count5xx: p?.bool('count_5xx') ?? d.passiveHealth.count5xx,
    },
    retries: {
      attempts: retries?.int('attempts', { min: 0, max: 10 }) ?? d.retries.attempts,
      budgetRatio: retries?.number('budget_ratio', { min: 0, max: 1 }) ?? d.retries.budgetRatio,
      minPerSecond: retries?.number('min_per_second', { min: 0 }) ?? d.retries.minPerSecond,
    },
    timeouts: {
      connectMs: t?.duration('connect') ?? d.timeouts.connectMs,
      responseHeaderMs: t?.duration('response_header') ?? d.timeouts.responseHeaderMs,
      idleMs: t?.duration('idle') ?? d.timeouts.idleMs,
      keepAliveMs: t?.duration('keep_alive') ?? d.timeouts.keepAliveMs,
    },
    queue: { size: q?.int('size', { min: 0 }) ?? d.queue.size, timeoutMs: q?.duration('timeout') ?? d.queue.timeoutMs },
    poolSize: m?.int('pool_size', { min: 0 }) ?? d.poolSize,
    onMarkedDown: m?.oneOf('on_marked_down', ['keep', 'shutdown', 'shutdown-unreachable'] as const) ?? 'keep',
  };
}

export function usesBackend(f: FrontendSpec, backend: string): boolean {
  return f.defaultBackend === backend || f.routes.some((rt) => rt.backend === backend);
}

function readBalance(m: MapView | undefined): BalanceSpec {
  const d = DEFAULTS.backend.balance;
  const hashKey = m && token(m, 'hash_key', 'a header or cookie name');
  return {
    policy: m?.oneOf('policy', POLICIES) ?? d.policy,
    hashOn: m?.oneOf('hash_on', ['source', 'header', 'cookie'] as const) ?? d.hashOn,
    ...(hashKey !== undefined && { hashKey }),
    cookie: (m && token(m, 'cookie', 'a cookie name like bwk_srv')) ?? d.cookie,
  };
}

function readServer(r: Reader, item: Item, nodes: readonly NodeSpec[], appPort: number): ServerSpec {
  const m = r.map(item.node, item.path, KEYS.server);
  const d = DEFAULTS.backend.server;
  const common = {
    weight: m?.int('weight', { min: 1, max: 256 }) ?? d.weight,
    backup: m?.bool('backup') ?? d.backup,
    maxconn: m?.int('maxconn', { min: 0 }) ?? d.maxconn,
  };
  if (!m) return { name: '', host: '', port: 0, ...common };
  if (m.has('node') && m.has('address')) {
    r.issues.add(m.at('address'), 'give either node (a web node of this cluster) or address (host:port), not both');
  } else if (!m.has('node') && !m.has('address')) {
    r.issues.add(item.path, 'a server needs either node (a web node of this cluster) or address (host:port)', m.node.pos);
  }
  if (m.has('node')) {
    if (m.has('name')) r.issues.add(m.at('name'), 'not allowed with node: the server takes the node\'s name');
    const nodeRef = nodeName(m, 'node');
    const node = nodes.find((n) => n.name === nodeRef);
    return {
      name: nodeRef ?? '',
      host: node?.address ?? '',
      port: m.port('port') ?? appPort,
      ...common,
      ...(nodeRef !== undefined && { node: nodeRef }),
    };
  }
  if (m.has('port')) r.issues.add(m.at('port'), 'not allowed with address: the port is part of address (host:port)');
  const hp = hostPort(m, 'address');
  const name = label(m, 'name', { required: m.has('address') });
  return { name: name ?? '', host: hp?.host ?? '', port: hp?.port ?? 0, ...common };
}

function readHealthCheck(m: MapView | undefined, mode: Mode): HealthCheckSpec {
  const d = DEFAULTS.backend.healthCheck;
  const type = m?.oneOf('type', MODES) ?? (mode === 'tcp' ? 'tcp' : 'http');
  if (m && type === 'tcp') {
    for (const key of ['path', 'host', 'expect_status']) {
      if (m.has(key)) m.reader.issues.add(m.at(key), 'only applies to http health checks (this check is tcp)');
    }
  }
  let host = m && hostPattern(m, 'host');
  if (m && host?.startsWith('*.')) {
    m.reader.issues.add(m.at('host'), `expected one host like example.com, not a pattern, got ${JSON.stringify(host)}`);
    host = undefined;
  }
  const expect = m?.get('expect_status');
  const port = m?.port('port');
  return {
    type,
    ...(port !== undefined && { port }),
    path: (m && urlPath(m, 'path')) ?? d.path,
    ...(host !== undefined && { host }),
    intervalMs: m?.duration('interval') ?? d.intervalMs,
    timeoutMs: m?.duration('timeout') ?? d.timeoutMs,
    rise: m?.int('rise', { min: 1 }) ?? d.rise,
    fall: m?.int('fall', { min: 1 }) ?? d.fall,
    expectStatus: (m && expect && statusList(m.reader, expect, m.at('expect_status'))) ?? [...d.expectStatus],
  };
}
