/**
 * Checks that span several keys: uniqueness, references, mode agreement, orderings of durations.
 * They run on the defaulted spec and stay quiet about values that already have a problem.
 */
import { formatDuration } from '../core/units.js';
import type { Issues } from './issues.js';
import { usesBackend } from './schema-edge.js';
import { didYouMean } from './suggest.js';
import { nodesWithRole } from './find-node.js';
import type { BackendSpec, ClusterSpec, NodeSpec, Role } from './types.js';

export function crossCheck(spec: ClusterSpec, issues: Issues): void {
  checkNodes(spec.nodes, issues);
  requireSection(spec.nodes, 'lb', 'edge', issues);
  requireSection(spec.nodes, 'web', 'web', issues);
  if (issues.given('web.app')) {
    const b = spec.web.app.restartBackoffMs;
    notAbove(issues, 'web.app.restart_backoff', ['initial', b.initial], ['max', b.max]);
  }
  if (issues.given('edge')) checkEdge(spec, issues);
  checkFirewallReach(spec, issues);
}

/**
 * Host firewall settings that would cut people off: under `enforce` (applied with no one asked to
 * confirm) SSH closes when no admin network is named unless the file says `admin_networks: []` on
 * purpose; an empty `client_networks` closes every frontend to everyone.
 */
function checkFirewallReach(spec: ClusterSpec, issues: Issues): void {
  const fw = spec.firewall;
  if (fw.host === 'enforce' && !issues.given('firewall.admin_networks')) {
    issues.check('firewall.host', 'enforce with no firewall.admin_networks closes SSH, and the agent API to the bulwark CLI, on every host, '
      + 'with no confirmation asked: list the networks you administer from (admin_networks: [10.9.0.0/16]), '
      + 'or write admin_networks: [] to keep them closed on purpose (console access only)', ['firewall.admin_networks']);
  }
  const lbs = nodesWithRole(spec, 'lb').map((n) => n.name);
  if (lbs.length > 0 && fw.clientNetworks.length === 0) {
    issues.check('firewall.client_networks', `is empty, so the host firewall of ${lbs.join(', ')} admits no client to any frontend: the site would be unreachable; `
      + 'list the networks clients come from, or leave the key out for everyone (0.0.0.0/0 and ::/0)');
  }
}

/** `nodes[1] (line 12)`: where the other half of a clash is (`line` of `at`, default `path`). */
function where(issues: Issues, path: string, at = path): string {
  return `${path} (line ${issues.posOf(at).line})`;
}

function checkNodes(nodes: readonly NodeSpec[], issues: Issues): void {
  const names = new Map<string, string>();
  const addresses = new Map<string, string>();
  const priorities = new Map<number, string>();
  nodes.forEach((n, i) => {
    const p = `nodes[${i}]`;
    const seenName = names.get(n.name);
    if (seenName !== undefined) issues.check(`${p}.name`, `"${n.name}" is already the name of ${where(issues, seenName)}`);
    else if (n.name !== '') names.set(n.name, p);

    const endpoint = `${n.address.toLowerCase()} port ${n.agentPort}`;
    const seenAddress = addresses.get(endpoint);
    if (seenAddress !== undefined) {
      issues.check(
        `${p}.address`,
        `${n.address} with agent port ${n.agentPort} is already used by ${where(issues, seenAddress)}; give each node its own address (or agent_port)`,
        [`${p}.address`, `${p}.agent_port`],
      );
    } else if (n.address !== '') addresses.set(endpoint, p);

    if (n.role !== 'lb' || issues.isBroken(`${p}.role`)) return;
    const seenPriority = priorities.get(n.priority);
    if (seenPriority !== undefined) {
      const how = issues.given(`${p}.priority`) ? '' : ' (the default: 100 minus the position among lb nodes)';
      issues.check(`${p}.priority`, `priority ${n.priority}${how} is also the priority of ${where(issues, seenPriority)}; lb priorities must differ`, [`${p}.priority`, `${p}.role`]);
    } else priorities.set(n.priority, p);
  });
}

/** `edge` is required when a node has role lb, `web` when a node has role web. */
function requireSection(nodes: readonly NodeSpec[], role: Role, key: string, issues: Issues): void {
  if (issues.given(key)) return;
  const names = nodes.filter((n, i) => n.role === role && !issues.isBroken(`nodes[${i}].role`)).map((n) => n.name);
  if (names.length === 0) return;
  const who = names.length === 1 ? `node ${names[0]} has` : `nodes ${names.join(', ')} have`;
  issues.add(key, `required key is missing (${who} role ${role})`, issues.posOf(''));
}

/** `low` must not exceed `high` (strictly below when `strict`); reported where the user wrote it. */
function notAbove(issues: Issues, base: string, low: [string, number], high: [string, number], strict = false): void {
  if (strict ? low[1] < high[1] : low[1] <= high[1]) return;
  const lowPath = `${base}.${low[0]}`;
  const highPath = `${base}.${high[0]}`;
  const show = ([key, ms]: [string, number], path: string): string =>
    `${key} (${formatDuration(ms)}${issues.given(path) ? '' : ', the default'})`;
  const at = issues.given(lowPath) ? lowPath : issues.given(highPath) ? highPath : base;
  const relation = strict ? 'shorter than' : 'at most';
  issues.check(at, `${show(low, lowPath)} must be ${relation} ${show(high, highPath)}`, [lowPath, highPath]);
}

function checkEdge(spec: ClusterSpec, issues: Issues): void {
  const { edge, nodes } = spec;
  nodes.forEach((n, i) => {
    if (n.address === edge.vip) {
      issues.check('edge.vip', `${edge.vip} is also the address of node ${n.name}; the VIP needs an address of its own`, [`nodes[${i}].address`]);
    }
  });
  checkStandby(spec, issues);
  if (edge.tls?.source === 'acme' && !edge.frontends.some((f) => f.mode === 'http')) {
    issues.check('edge.tls.acme', 'needs an http frontend: the ACME server proves the names over plain HTTP on its port (80 for a public CA)', ['edge.tls.source', 'edge.frontends']);
  }
  const backendNames = edge.backends.map((b) => b.name);
  // When some backend's name could not be read, an "unknown backend" might be that one: stay quiet.
  const backendPaths = ['edge.backends', ...unnamed(edge.backends, 'edge.backends')];
  const checkRef = (path: string, name: string): void => {
    if (backendNames.includes(name)) return;
    const known = backendNames.filter((b) => b !== '').join(', ');
    issues.check(path, `unknown backend "${name}"${didYouMean(name, backendNames)}; backends: ${known || '(none)'}`, [path, ...backendPaths]);
  };

  const frontendNames = new Map<string, string>();
  const ports = new Map<number, string>();
  edge.frontends.forEach((f, i) => {
    const p = `edge.frontends[${i}]`;
    const seenName = frontendNames.get(f.name);
    if (seenName !== undefined) issues.check(`${p}.name`, `"${f.name}" is already the name of ${where(issues, seenName)}`);
    else if (f.name !== '') frontendNames.set(f.name, p);
    const seenPort = ports.get(f.port);
    if (seenPort !== undefined) issues.check(`${p}.port`, `port ${f.port} is already used by ${where(issues, seenPort)}`);
    else if (f.port !== 0) ports.set(f.port, `${p}.port`);
    if (f.httpsPort !== undefined) {
      const seenHttps = ports.get(f.httpsPort);
      if (seenHttps !== undefined) issues.check(`${p}.https_port`, `port ${f.httpsPort} is already used by ${where(issues, seenHttps)}`);
      else ports.set(f.httpsPort, `${p}.https_port`);
      if (f.mode === 'tcp') issues.check(`${p}.https_port`, 'a tcp frontend passes bytes through and cannot terminate TLS; https_port is for http frontends', [`${p}.mode`]);
      if (!edge.tls) issues.check(`${p}.https_port`, 'needs edge.tls (where the certificates come from: source: local, files or acme)', ['edge']);
    }
    nodes.forEach((n, k) => {
      for (const [key, port] of [['port', f.port], ['https_port', f.httpsPort]] as const) {
        if (n.role === 'lb' && n.agentPort === port) {
          issues.check(`${p}.${key}`, `port ${port} is also the agent port of lb node ${n.name} (frontends listen on each lb node's address too)`, [`${p}.${key}`, `nodes[${k}]`]);
        }
      }
    });

    if (f.proxyProtocol && (f.firewall?.trustedProxies.length ?? 0) === 0) {
      issues.check(`${p}.proxy_protocol`, 'needs firewall.trusted_proxies: the peers allowed to state a client\'s address (anyone else could claim to be anybody)', [`${p}.firewall`]);
    }
    if (f.mode === 'tcp' && (f.firewall?.trustedProxies.length ?? 0) > 0 && !f.proxyProtocol) {
      issues.check(`${p}.firewall.trusted_proxies`, 'a tcp frontend reads no X-Forwarded-For header; trusted_proxies there only make sense with proxy_protocol', [`${p}.mode`]);
    }
    if (f.mode === 'tcp') {
      if (f.routes.length > 0) {
        issues.check(`${p}.routes`, 'a tcp frontend cannot have routes (it does not read HTTP); use default_backend', [`${p}.mode`]);
      }
      if (f.defaultBackend === undefined) issues.check(`${p}.default_backend`, 'required key is missing (a tcp frontend sends every connection to its default_backend)', [p, `${p}.mode`]);
    } else if (f.routes.length === 0 && f.defaultBackend === undefined) {
      issues.check(`${p}.routes`, 'an http frontend needs routes, a default_backend, or both', [p, `${p}.default_backend`]);
    }
    f.routes.forEach((r, k) => checkRef(`${p}.routes[${k}].backend`, r.backend));
    if (f.defaultBackend !== undefined) checkRef(`${p}.default_backend`, f.defaultBackend);
  });

  const names = new Map<string, string>();
  edge.backends.forEach((b, j) => {
    const p = `edge.backends[${j}]`;
    const seen = names.get(b.name);
    if (seen !== undefined) issues.check(`${p}.name`, `"${b.name}" is already the name of ${where(issues, seen)}`);
    else if (b.name !== '') names.set(b.name, p);
    checkBackend(spec, b, p, issues);
  });
}

function checkStandby(spec: ClusterSpec, issues: Issues): void {
  const sb = spec.edge.standby;
  const base = 'edge.standby';
  const names = spec.nodes.map((n) => n.name);
  const seen = new Set<string>();
  // Unset, the voters are the nodes themselves (already checked for duplicates).
  if (issues.given(`${base}.voters`)) sb.voters.forEach((v, i) => {
    const p = `${base}.voters[${i}]`;
    if (!names.includes(v)) issues.check(p, `unknown node "${v}"${didYouMean(v, names)}; nodes: ${names.join(', ')}`, [p, 'nodes']);
    else if (seen.has(v)) issues.check(p, `"${v}" is listed twice`);
    seen.add(v);
  });
  const lbs = nodesWithRole(spec, 'lb').length;
  const voters = new Set(sb.voters).size;
  if (lbs >= 2 && voters < 3) {
    const what = issues.given(`${base}.voters`) ? `${voters} voter(s)` : `${voters} node(s), and every node votes`;
    issues.check(issues.given(`${base}.voters`) ? `${base}.voters` : 'nodes',
      `the lb pair elects its VIP holder by majority vote, but the cluster has ${what}: a majority must survive one failure, so list at least 3 voters`, [`${base}.voters`, 'nodes']);
  }
  // Three renewals per lease: one lost heartbeat must not cost the holder its lease.
  if (sb.heartbeatMs * 3 > sb.leaseMs) {
    const at = issues.given(`${base}.heartbeat`) ? `${base}.heartbeat` : issues.given(`${base}.lease`) ? `${base}.lease` : base;
    issues.check(at, `heartbeat (${formatDuration(sb.heartbeatMs)}) must be at most a third of lease (${formatDuration(sb.leaseMs)}) so that one lost heartbeat does not cost the holder its lease`, [`${base}.heartbeat`, `${base}.lease`]);
  }
}

function checkBackend(spec: ClusterSpec, b: BackendSpec, p: string, issues: Issues): void {
  const users = spec.edge.frontends
    .map((f, i) => ({ f, path: `edge.frontends[${i}]` }))
    .filter(({ f }) => b.name !== '' && usesBackend(f, b.name));
  if (issues.given(`${p}.mode`)) {
    for (const { f, path } of users.filter((u) => u.f.mode !== b.mode)) {
      issues.check(`${p}.mode`, `${b.mode} does not match the ${f.mode} frontend ${f.name} that uses this backend`, [`${path}.mode`]);
    }
  } else if (new Set(users.map((u) => u.f.mode)).size > 1) {
    const list = users.map((u) => `${u.f.mode} frontend ${u.f.name}`).join(', ');
    issues.check(`${p}.name`, `used by ${list}; a backend has one mode, so give each mode its own backend`, users.map((u) => `${u.path}.mode`));
  }

  const bal = b.balance;
  if (bal.policy === 'hash' && bal.hashOn !== 'source' && bal.hashKey === undefined) {
    issues.check(`${p}.balance.hash_key`, `required key is missing (hash_on is ${bal.hashOn}: name the ${bal.hashOn} to hash)`, [`${p}.balance`]);
  }
  if (b.mode === 'tcp' && (bal.policy === 'sticky' || (bal.policy === 'hash' && bal.hashOn !== 'source'))) {
    const what = bal.policy === 'sticky' ? 'sticky' : `hash on ${bal.hashOn}`;
    issues.check(`${p}.balance.${bal.policy === 'sticky' ? 'policy' : 'hash_on'}`, `${what} needs an http backend (this backend is tcp and cannot read headers or cookies)`, [`${p}.balance`, `${p}.mode`]);
  }

  const serverNames = new Map<string, string>();
  b.servers.forEach((s, k) => {
    const sp = `${p}.servers[${k}]`;
    const namePath = s.node !== undefined ? `${sp}.node` : `${sp}.name`;
    const seen = serverNames.get(s.name);
    if (seen !== undefined) issues.check(namePath, `server "${s.name}" is already in this backend at ${where(issues, seen)}`);
    else if (s.name !== '') serverNames.set(s.name, sp);
    if (s.node !== undefined) checkServerNode(spec.nodes, s.node, `${sp}.node`, issues);
  });
  if (b.servers.length > 0 && b.servers.every((s) => s.backup)) {
    issues.check(`${p}.servers`, 'needs at least one server that is not a backup (backups take traffic only when every other server is down)', b.servers.map((_, k) => `${p}.servers[${k}]`));
  }

  const hc = b.healthCheck;
  notAbove(issues, `${p}.health_check`, ['timeout', hc.timeoutMs], ['interval', hc.intervalMs], true);
  const ph = b.passiveHealth;
  notAbove(issues, `${p}.passive_health`, ['eject', ph.ejectMs], ['max_eject', ph.maxEjectMs]);
}

function checkServerNode(nodes: readonly NodeSpec[], name: string, path: string, issues: Issues): void {
  const i = nodes.findIndex((n) => n.name === name);
  if (i < 0) {
    const web = [...new Set(nodes.filter((n) => n.role === 'web' && n.name !== '').map((n) => n.name))];
    const related = ['nodes', ...unnamed(nodes, 'nodes')];
    issues.check(path, `unknown node "${name}"${didYouMean(name, web)}; web nodes: ${web.join(', ') || '(none)'}`, [path, ...related]);
  } else if (nodes[i]!.role !== 'web') {
    issues.check(path, `node ${name} has role ${nodes[i]!.role}, but a server must be a web node (use address: host:port for anything else)`, [path, `nodes[${i}].role`]);
  }
}

/** Name paths of list items whose name could not be read. */
function unnamed(items: readonly { name: string }[], path: string): string[] {
  return items.flatMap((item, i) => (item.name === '' ? [`${path}[${i}].name`] : []));
}
