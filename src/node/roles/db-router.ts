/**
 * The database router on a web node: two local TCP ports in front of the db members, built from
 * the same edge machinery as the load balancer.
 *   rw_port → the member whose agent answers 200 on /primary (lock holder, writable); when it is
 *             marked down its connections are cut, so clients reconnect to the new primary.
 *             The check is a long poll (/primary?wait=check_interval): an agent answers as soon
 *             as its member becomes or stops being the primary, so writes follow a promotion
 *             within a few ms instead of at the next check.
 *   ro_port → members whose agent answers 200 on /replica?lag=max_lag; when none does, the
 *             primary (backup servers checked with /primary).
 */
import { standbyDefaults } from '../../config/index.js';
import type { BackendSpec, ClusterSpec, EdgeSpec, FrontendSpec, HealthCheckSpec, NodeSpec, ServerSpec } from '../../config/types.js';

export function dbRouterSpec(spec: ClusterSpec): EdgeSpec {
  const db = spec.database!;
  const members = spec.nodes.filter((n) => n.role === 'db');
  const interval = db.router.checkIntervalMs;
  const check = (path: string, agentPort: number): HealthCheckSpec => ({
    type: 'http', path, port: agentPort, intervalMs: interval, timeoutMs: Math.max(100, Math.min(1000, interval - 50)),
    rise: 1, fall: 1, expectStatus: [200],
  });
  const server = (m: NodeSpec, extra: Partial<ServerSpec> = {}): ServerSpec => ({
    name: m.name, host: m.address, port: db.port, weight: 1, backup: false, maxconn: 0, ...extra,
  });
  // Members share one agent port in practice; per-server paths carry the difference.
  const agentPort = members[0]?.agentPort ?? spec.agent.port;
  const base = {
    mode: 'tcp' as const,
    passiveHealth: { enabled: false, consecutiveFailures: 3, ejectMs: 1000, maxEjectMs: 10_000, count5xx: false },
    retries: { attempts: 1, budgetRatio: 0.5, minPerSecond: 10 },
    timeouts: { connectMs: 1000, responseHeaderMs: 30_000, idleMs: 3_600_000, keepAliveMs: 30_000 },
    queue: { size: 0, timeoutMs: 1000 },
    poolSize: 0,
    onMarkedDown: 'shutdown' as const,
  };
  const rw: BackendSpec = {
    ...base, name: 'db-rw', balance: { policy: 'roundrobin', hashOn: 'source', cookie: 'bwk_srv' },
    servers: members.map((m) => server(m)),
    // The agent holds each answer for up to one interval; the next probe follows shortly after.
    healthCheck: { ...check(`/primary?wait=${interval}`, agentPort), intervalMs: Math.min(100, interval), timeoutMs: interval + 1000 },
  };
  const ro: BackendSpec = {
    ...base, name: 'db-ro', balance: { policy: 'leastconn', hashOn: 'source', cookie: 'bwk_srv' },
    servers: [
      ...members.map((m) => server(m, { checkPath: `/replica?lag=${db.router.maxLagBytes}` })),
      ...members.map((m) => server(m, { name: `${m.name}~primary`, backup: true, checkPath: '/primary' })),
    ],
    healthCheck: check('/replica', agentPort),
    // A lagging or promoted replica's readers may finish (new ones go elsewhere); a member whose
    // agent does not answer at all is gone or cut off, and its readers would hang: cut them, also
    // when it was already down (a replica promoted last failover, cut off in the next).
    onMarkedDown: 'shutdown-unreachable',
  };
  const frontend = (name: string, port: number, backend: string): FrontendSpec => ({
    name, mode: 'tcp', port, redirectToHttps: false, proxyProtocol: false, routes: [], defaultBackend: backend,
    timeouts: { requestHeaderMs: 10_000, keepAliveMs: 60_000, idleMs: 3_600_000 },
    limits: { maxHeaderBytes: 16_384, maxHeaders: 100, maxUrlBytes: 8192, maxBodyBytes: 16_777_216 },
    accessLog: false,
  });
  return {
    vip: '',
    standby: standbyDefaults(),
    frontends: [frontend('db-rw', db.router.rwPort, 'db-rw'), frontend('db-ro', db.router.roPort, 'db-ro')],
    backends: [rw, ro],
  };
}
