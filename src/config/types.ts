/**
 * The ClusterSpec: the validated, defaulted, frozen form of the cluster file. Everything after
 * config loading reads only this. YAML keys are snake_case; these fields are their camelCase
 * twins (`health_check.interval: 2s` → `healthCheck.intervalMs: 2000`).
 */
export type Role = 'lb' | 'web' | 'db' | 'monitor';
export const ROLES: readonly Role[] = ['lb', 'web', 'db', 'monitor'];

export interface NodeSpec {
  readonly name: string;
  readonly role: Role;
  /** IPv4/IPv6 address the node's agent and services bind (127.0.1.x in a one-machine cluster). */
  readonly address: string;
  /** Port of the node's agent API (default: agent.port). */
  readonly agentPort: number;
  /** Election priority for lb nodes (higher wins); default: 100 minus the lb's index. */
  readonly priority: number;
  /** db nodes: never promote this member (Patroni's `nofailover` tag). */
  readonly nofailover: boolean;
}

export interface HealthCheckSpec {
  /** `http` sends a request and checks the status; `tcp` only connects. */
  readonly type: 'http' | 'tcp';
  readonly path: string;
  /** Host header for http checks (default: the server's address). */
  readonly host?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive successes that bring a down server up. */
  readonly rise: number;
  /** Consecutive failures that take an up server down. */
  readonly fall: number;
  /** Accepted statuses, e.g. [200, 204]. Empty (the default) means any 2xx or 3xx (200–399). */
  readonly expectStatus: readonly number[];
  /** Check this port instead of the server's (HAProxy's `check port`: e.g. a db agent's /primary). */
  readonly port?: number;
}

export interface PassiveHealthSpec {
  readonly enabled: boolean;
  /** Consecutive failures on live traffic (connect errors, resets, 5xx when counted) that eject. */
  readonly consecutiveFailures: number;
  /** First ejection lasts this long; each consecutive ejection doubles it up to maxEjectMs. */
  readonly ejectMs: number;
  readonly maxEjectMs: number;
  /** Count 5xx responses from the server as failures (connect errors and resets always count). */
  readonly count5xx: boolean;
}

export type BalancePolicy = 'roundrobin' | 'leastconn' | 'p2c' | 'hash' | 'sticky';

export interface BalanceSpec {
  readonly policy: BalancePolicy;
  /** For `hash`: what is hashed. */
  readonly hashOn: 'source' | 'header' | 'cookie';
  /** Header or cookie name for `hash` on header/cookie. */
  readonly hashKey?: string;
  /** For `sticky`: the cookie that pins a client to a server. */
  readonly cookie: string;
}

export interface ServerSpec {
  /** Unique within its backend; a web node's name when `node:` was used. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
  /** Concurrent requests (http) or connections (tcp) allowed; 0 means unlimited. */
  readonly maxconn: number;
  /** The web node this server runs on, when it is a cluster node. */
  readonly node?: string;
  /** Health-check path for this server only (set by generated configs such as the db router). */
  readonly checkPath?: string;
}

export interface RetrySpec {
  /** Extra attempts after the first, each on a different server where possible. */
  readonly attempts: number;
  /** Retries may add at most this fraction of the request rate (plus minPerSecond). */
  readonly budgetRatio: number;
  readonly minPerSecond: number;
}

export interface BackendTimeoutsSpec {
  readonly connectMs: number;
  /** From request sent to response head received. */
  readonly responseHeaderMs: number;
  /** Longest silence on an established exchange. */
  readonly idleMs: number;
  /** How long an idle pooled connection is kept. */
  readonly keepAliveMs: number;
}

export interface BackendSpec {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  readonly balance: BalanceSpec;
  readonly servers: readonly ServerSpec[];
  readonly healthCheck: HealthCheckSpec;
  readonly passiveHealth: PassiveHealthSpec;
  readonly retries: RetrySpec;
  readonly timeouts: BackendTimeoutsSpec;
  /** Requests waiting for a free slot when every server is at maxconn. */
  readonly queue: { readonly size: number; readonly timeoutMs: number };
  /** Idle keep-alive connections kept per server. */
  readonly poolSize: number;
  /**
   * tcp: what happens to a server's open connections when it is marked down. `shutdown` cuts
   * them so clients reconnect elsewhere (HAProxy's on-marked-down shutdown-sessions): the db
   * router uses it so nobody keeps writing to a demoted primary. `shutdown-unreachable` (the db
   * router's read port, not settable in the file) cuts them only when the check got no answer at
   * all (host gone or cut off, where the connections would hang until TCP gives up), and keeps
   * them when the server answered that it is down (a replica lagging a little).
   */
  readonly onMarkedDown: 'keep' | 'shutdown' | 'shutdown-unreachable';
}

export interface RouteSpec {
  /** Exact host (`example.com`), wildcard (`*.example.com`) or undefined for any host. */
  readonly host?: string;
  readonly pathPrefix: string;
  readonly backend: string;
}

export interface BindSpec {
  readonly host: string;
  readonly port: number;
}

export interface FrontendSpec {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  /** Port on the VIP (and on each lb node's own address). */
  readonly port: number;
  /** http frontends: also serve the same routes over HTTPS on this port (needs edge.tls). */
  readonly httpsPort?: number;
  /** With httpsPort: plain HTTP answers 308 to HTTPS (ACME challenge paths excepted). */
  readonly redirectToHttps: boolean;
  /** http: first matching route wins; the last resort is defaultBackend. */
  readonly routes: readonly RouteSpec[];
  readonly defaultBackend?: string;
  readonly timeouts: {
    /** Whole request head must arrive within this (slowloris guard) → 408. */
    readonly requestHeaderMs: number;
    /** Idle keep-alive client connections are closed after this. */
    readonly keepAliveMs: number;
    /** tcp: longest silence in both directions. */
    readonly idleMs: number;
  };
  readonly limits: {
    readonly maxHeaderBytes: number;
    readonly maxHeaders: number;
    readonly maxUrlBytes: number;
    readonly maxBodyBytes: number;
  };
  readonly accessLog: boolean;
  /** The edge firewall of this frontend; undefined: everybody is served. */
  readonly firewall?: EdgeFirewallSpec;
  /** Connections start with a PROXY protocol header (v1 or v2) from a trusted proxy. */
  readonly proxyProtocol: boolean;
}

/** Per-frontend protection against abusive clients (docs/edge-firewall.md). */
export interface EdgeFirewallSpec {
  /** When non-empty, only these CIDRs are served. */
  readonly allow: readonly string[];
  /** These CIDRs are never served (checked before allow). */
  readonly deny: readonly string[];
  /** Per client address: requests (http) or connections (tcp) per second, with a burst. */
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number };
  /** Per client address: open connections at most. */
  readonly maxConnectionsPerClient?: number;
  /** A client refused `after` times within `withinMs` is banned for `forMs` (403 / dropped). */
  readonly ban?: { readonly after: number; readonly withinMs: number; readonly forMs: number };
  /** Peers whose X-Forwarded-For names the real client (their own address is not the client). */
  readonly trustedProxies: readonly string[];
}

/**
 * Active-passive election of the lb that holds the VIP: a lease granted by a majority of voters
 * (docs/standby.md).
 */
export interface StandbySpec {
  /** How long a vote lasts. After the active dies the passive takes over about lease + heartbeat later. */
  readonly leaseMs: number;
  /** Every lb asks every voter this often (the holder renews, the others stand ready). */
  readonly heartbeatMs: number;
  /** A returning lb with a higher priority takes the VIP back (after preemptDelayMs of good health). */
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  /** Flapping guard: after a takeover the holder keeps the VIP this long unless it loses its lease. */
  readonly minHoldMs: number;
  /** Nodes whose majority must grant the lease; default every node of the cluster. */
  readonly voters: readonly string[];
  /** Real networks: add the VIP to this interface and announce it; unset on one machine (bind only). */
  readonly interface?: string;
  /** Gratuitous ARP / unsolicited neighbour advertisement every this long while active (0: only on takeover). */
  readonly announceIntervalMs: number;
  /** Shell commands run on each transition (move a cloud floating IP, page someone). */
  readonly notify: { readonly onActive?: string; readonly onPassive?: string; readonly onFault?: string };
}

/** Certificates for HTTPS frontends (docs/tls.md). */
export interface EdgeTlsSpec {
  /** local: issued by the cluster CA (state folder); files: PEM pairs named here; acme: ordered from an ACME directory. */
  readonly source: 'local' | 'files' | 'acme';
  /** local: more names (DNS or IP) on the certificate, besides the VIP, each lb's address and localhost. */
  readonly names: readonly string[];
  /** files: certificate + key pairs, served by SNI; the first one to clients that send no name. */
  readonly certificates: readonly { readonly cert: string; readonly key: string }[];
  /** acme: where and for which names certificates are ordered (docs/tls.md). */
  readonly acme?: AcmeSpec;
  /** Strict-Transport-Security max-age on HTTPS responses; 0 sends none. */
  readonly hstsMaxAgeMs: number;
}

/** `edge.tls.acme`: an ACME directory (Let's Encrypt by default) answered with HTTP-01 by the edge. */
export interface AcmeSpec {
  /** The directory URL (https). */
  readonly directory: string;
  /** The account's contact address. */
  readonly email: string;
  /** DNS names or IP addresses on the certificate (no wildcards: HTTP-01 cannot prove them). */
  readonly names: readonly string[];
  /** Absolute path of a PEM CA to trust for the directory's own HTTPS (a test CA such as Pebble's). */
  readonly caFile?: string;
  /** Renew when this fraction of the certificate's lifetime has passed (0 < x < 1). */
  readonly renewAt: number;
  /** Absolute path of the account key (PEM) to use instead of the one each lb creates in its folder. */
  readonly accountKey?: string;
}

export interface EdgeSpec {
  /** The address clients use. On one machine a loopback address bound only by the active lb. */
  readonly vip: string;
  readonly standby: StandbySpec;
  readonly tls?: EdgeTlsSpec;
  readonly frontends: readonly FrontendSpec[];
  readonly backends: readonly BackendSpec[];
}

/** The host firewall derived from the topology (docs/firewall.md). */
export interface FirewallSpec {
  /** plan-only: `bulwark firewall plan|apply` by hand; enforce: the agent keeps its host's ruleset applied. */
  readonly host: 'plan-only' | 'enforce';
  /** Who may reach the lb frontends (CIDRs). */
  readonly clientNetworks: readonly string[];
  /** Who may reach SSH on every host (CIDRs); empty: SSH stays closed. */
  readonly adminNetworks: readonly string[];
  readonly sshPort: number;
  /** `bulwark firewall apply` rolls back unless confirmed within this. */
  readonly confirmTimeoutMs: number;
}

export interface AppSpec {
  /** argv of the application; relative paths resolve against the cluster file's folder. */
  readonly command: readonly string[];
  readonly cwd: string;
  readonly port: number;
  readonly env: Readonly<Record<string, string>>;
  readonly healthPath: string;
  readonly restartBackoffMs: { readonly initial: number; readonly max: number };
  /** Grace between SIGTERM and SIGKILL when stopping the app. */
  readonly stopTimeoutMs: number;
}

export type DcsSpec =
  | { readonly type: 'embedded'; /** The node that hosts the store (its agent API serves it). */ readonly node: string }
  | {
    readonly type: 'etcd';
    readonly endpoints: readonly string[];
    /** The members' peer (raft) port: the host firewall opens it between the endpoint hosts. */
    readonly peerPort: number;
  };

export interface DatabaseSpec {
  /** `sync`: a commit is acknowledged once a sync standby has it; only sync standbys promote. */
  readonly mode: 'async' | 'sync';
  /** sync mode: block writes rather than fall back to async when no standby is left. */
  readonly strict: boolean;
  /** PostgreSQL's port on every db node. */
  readonly port: number;
  /** The application database and role. */
  readonly name: string;
  readonly user: string;
  /** A system PostgreSQL's bin folder (e.g. /usr/lib/postgresql/15/bin); default: the npm binaries. */
  readonly binDir?: string;
  /** Leader lock TTL and HA loop interval. */
  readonly ttlMs: number;
  readonly loopMs: number;
  readonly maximumLagOnFailoverBytes: number;
  readonly failsafe: boolean;
  readonly dcs: DcsSpec;
  /** The database router on every web node. */
  readonly router: {
    /** Local read-write port (always the primary). */
    readonly rwPort: number;
    /** Local read-only port (replicas within maxLagBytes, else the primary). */
    readonly roPort: number;
    readonly maxLagBytes: number;
    /** How often the router checks every member's /primary and /replica. */
    readonly checkIntervalMs: number;
  };
  /** Extra postgresql.conf settings (free-form). */
  readonly parameters: Readonly<Record<string, string>>;
}

export interface ClusterSpec {
  readonly cluster: string;
  /** Absolute path of the cluster file. */
  readonly sourcePath: string;
  /** Absolute path of the state folder (logs, pids, data). */
  readonly stateDir: string;
  readonly agent: { readonly port: number };
  readonly nodes: readonly NodeSpec[];
  readonly edge: EdgeSpec;
  readonly firewall: FirewallSpec;
  readonly web: { readonly app: AppSpec };
  /** Present when the cluster has db nodes. */
  readonly database?: DatabaseSpec;
  /** Scraping, alerting and the dashboard (defaults when the file has no `monitor` section). */
  readonly monitor: MonitorSpec;
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error' };
}

export type Severity = 'critical' | 'warning' | 'info';

/** A new alert rule, or a built-in one tuned by name (fields left out keep the built-in's). */
export interface MonitorRuleSpec {
  readonly name: string;
  /** PromQL subset (docs/monitoring.md); required unless the name is a built-in alert. */
  readonly expr?: string;
  readonly forMs?: number;
  readonly severity?: Severity;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly enabled: boolean;
}

/** A webhook that gets Alertmanager-compatible notifications (version 4 payload). */
export interface ReceiverSpec {
  readonly name: string;
  readonly url: string;
  /** Only alerts whose labels equal these (empty: every alert). */
  readonly match: Readonly<Record<string, string>>;
  /** Alerts with the same values of these labels go out together (`...`: every label). */
  readonly groupBy: readonly string[];
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly sendResolved: boolean;
  readonly timeoutMs: number;
  /** Attempts after the first failed one, with doubling backoff. */
  readonly retries: number;
}

export interface MonitorSpec {
  /** The dashboard's HTTPS port on the monitor node's address. */
  readonly port: number;
  readonly scrapeIntervalMs: number;
  readonly scrapeTimeoutMs: number;
  /** History on disk: whole segments older than ageMs, or beyond sizeBytes in total, are deleted. */
  readonly retention: { readonly ageMs: number; readonly sizeBytes: number };
  readonly rules: readonly MonitorRuleSpec[];
  readonly receivers: readonly ReceiverSpec[];
  /** How notifications link back (default: the dashboard's URL). */
  readonly externalUrl?: string;
}
