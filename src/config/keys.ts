/**
 * Every key the cluster file allows, per mapping (YAML spelling). Anything else is an unknown
 * key. A test checks that docs/configuration.md mentions each of them.
 */
export const KEYS = {
  top: ['cluster', 'state_dir', 'agent', 'log', 'nodes', 'web', 'edge', 'firewall', 'database'],
  firewall: ['host', 'client_networks', 'admin_networks', 'ssh_port', 'confirm_timeout'],
  agent: ['port'],
  log: ['level'],
  node: ['name', 'role', 'address', 'agent_port', 'priority', 'nofailover'],
  web: ['app'],
  app: ['command', 'cwd', 'port', 'env', 'health_path', 'restart_backoff', 'stop_timeout'],
  restartBackoff: ['initial', 'max'],
  edge: ['vip', 'standby', 'tls', 'frontends', 'backends'],
  tls: ['source', 'names', 'certificates', 'hsts'],
  certificate: ['cert', 'key'],
  standby: ['lease', 'heartbeat', 'preempt', 'preempt_delay', 'min_hold', 'voters', 'interface', 'announce_interval', 'notify'],
  notify: ['on_active', 'on_passive', 'on_fault'],
  frontend: ['name', 'mode', 'port', 'https_port', 'redirect_to_https', 'routes', 'default_backend', 'timeouts', 'limits', 'access_log', 'firewall', 'proxy_protocol'],
  edgeFirewall: ['allow', 'deny', 'rate_limit', 'max_connections_per_client', 'ban', 'trusted_proxies'],
  rateLimit: ['rate', 'burst'],
  ban: ['after', 'within', 'for'],
  frontendTimeouts: ['request_header', 'keep_alive', 'idle'],
  limits: ['max_header_bytes', 'max_headers', 'max_url_bytes', 'max_body_bytes'],
  route: ['host', 'path_prefix', 'backend'],
  backend: [
    'name', 'mode', 'balance', 'servers', 'health_check', 'passive_health', 'retries', 'timeouts', 'queue', 'pool_size',
    'on_marked_down',
  ],
  balance: ['policy', 'hash_on', 'hash_key', 'cookie'],
  server: ['node', 'name', 'address', 'port', 'weight', 'backup', 'maxconn'],
  healthCheck: ['type', 'path', 'host', 'port', 'interval', 'timeout', 'rise', 'fall', 'expect_status'],
  passiveHealth: ['enabled', 'consecutive_failures', 'eject', 'max_eject', 'count_5xx'],
  retries: ['attempts', 'budget_ratio', 'min_per_second'],
  backendTimeouts: ['connect', 'response_header', 'idle', 'keep_alive'],
  queue: ['size', 'timeout'],
  database: [
    'mode', 'strict', 'port', 'name', 'user', 'bin_dir', 'ttl', 'loop', 'maximum_lag_on_failover', 'failsafe', 'dcs', 'router',
    'parameters',
  ],
  dcs: ['type', 'node', 'endpoints'],
  router: ['rw_port', 'ro_port', 'max_lag', 'check_interval'],
} as const satisfies Record<string, readonly string[]>;
