/**
 * Every default of the cluster file in one place (docs/configuration.md lists the same values;
 * a test keeps them in step). Defaults that depend on other keys are applied in schema.ts:
 * node.agent_port = agent.port; lb priority = 100 − index among lb nodes; backend mode = mode of
 * the frontends using it; health_check.type = tcp for tcp backends; server port = web.app.port.
 */
export const DEFAULTS = {
  stateDir: '.bulwark',
  agentPort: 7700,
  lbPriorityBase: 100,
  logLevel: 'info',
  standby: { leaseMs: 600, heartbeatMs: 100, preempt: false, preemptDelayMs: 5000, minHoldMs: 2000, announceIntervalMs: 1000 },
  firewall: { host: 'plan-only', clientNetworks: ['0.0.0.0/0', '::/0'], sshPort: 22, confirmTimeoutMs: 30_000 },
  tls: { source: 'local', hstsMaxAgeMs: 365 * 86_400_000 },
  acme: { directory: 'https://acme-v02.api.letsencrypt.org/directory', renewAt: 2 / 3 },
  frontend: {
    mode: 'http',
    redirectToHttps: true,
    proxyProtocol: false,
    timeouts: { requestHeaderMs: 10_000, keepAliveMs: 60_000, idleMs: 300_000 },
    limits: { maxHeaderBytes: 16 * 1024, maxHeaders: 100, maxUrlBytes: 8 * 1024, maxBodyBytes: 16 * 1024 * 1024 },
    accessLog: true,
  },
  route: { pathPrefix: '/' },
  backend: {
    mode: 'http',
    balance: { policy: 'roundrobin', hashOn: 'source', cookie: 'bwk_srv' },
    server: { weight: 1, backup: false, maxconn: 0 },
    healthCheck: { path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectStatus: [] as number[] },
    passiveHealth: { enabled: true, consecutiveFailures: 3, ejectMs: 10_000, maxEjectMs: 300_000, count5xx: false },
    retries: { attempts: 2, budgetRatio: 0.2, minPerSecond: 10 },
    timeouts: { connectMs: 2000, responseHeaderMs: 30_000, idleMs: 60_000, keepAliveMs: 30_000 },
    queue: { size: 256, timeoutMs: 5000 },
    poolSize: 64,
  },
  database: {
    mode: 'sync',
    strict: false,
    port: 5432,
    etcdPeerPort: 2380,
    name: 'app',
    user: 'app',
    ttlMs: 3000,
    loopMs: 500,
    maximumLagOnFailoverBytes: 1024 * 1024,
    failsafe: true,
    router: { rwPort: 6432, roPort: 6433, maxLagBytes: 1024 * 1024, checkIntervalMs: 500 },
  },
  monitor: {
    port: 9443,
    scrapeIntervalMs: 5000,
    retention: { ageMs: 86_400_000, sizeBytes: 256 * 1024 * 1024 },
    receiver: { groupBy: ['alertname'], groupWaitMs: 5000, groupIntervalMs: 60_000, repeatIntervalMs: 4 * 3_600_000, sendResolved: true, timeoutMs: 5000, retries: 5 },
  },
  app: {
    env: {} as Record<string, string>,
    healthPath: '/healthz',
    restartBackoffMs: { initial: 500, max: 30_000 },
    stopTimeoutMs: 10_000,
  },
} as const;
