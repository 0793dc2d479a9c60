/**
 * A node's host firewall, derived from the cluster file: an nftables script that owns one table
 * (`inet bulwark`), drops by default, and opens per role exactly what the topology needs. Pure:
 * the same spec always gives the same text, so golden files show every change as a diff.
 *
 * The script is atomic and idempotent under `nft -f`: it creates the table (a no-op if it
 * exists), deletes it, and defines it again, all in one transaction; other tables (Docker's,
 * the distribution's) are left alone.
 */
import { isIP, isIPv6 } from 'node:net';
import { nodesWithRole, type ClusterSpec, type NodeSpec, type Role } from '../../config/index.js';
import { parseHostPort } from '../../config/value-rules.js';
import { compileCidrs, inCidrs } from '../../core/cidr.js';
import { canonicalIp } from '../../core/ip-address.js';

export const TABLE = 'bulwark';

/** Per host, all sources together: packets beyond the limit fall through to the drop policy. */
const ICMP_ERRORS = 'limit rate 100/second burst 200 packets';
const NEIGHBOUR_DISCOVERY = 'limit rate 1000/second burst 1000 packets';

export interface Opening {
  /** Source addresses or CIDRs. */
  readonly from: readonly string[];
  readonly ports: readonly number[];
  readonly why: string;
}

/** What this node must accept, rule by rule (before rendering): also what `verify` probes. */
export function openings(spec: ClusterSpec, node: NodeSpec): Opening[] {
  const members = spec.nodes.map((n) => n.address);
  const of = (role: Role): string[] => nodesWithRole(spec, role).map((n) => n.address);
  const rules: Opening[] = [{ from: members, ports: [node.agentPort], why: 'agent API from cluster members (mutual TLS; metrics only for the monitor certificate)' }];
  if (node.role === 'lb') {
    const ports = spec.edge.frontends.flatMap((f) => (f.httpsPort === undefined ? [f.port] : [f.port, f.httpsPort]));
    rules.push({ from: spec.firewall.clientNetworks, ports, why: 'edge frontends (HTTP, HTTPS, TCP) from client networks' });
  }
  if (node.role === 'web') {
    rules.push({ from: of('lb'), ports: [spec.web.app.port], why: 'the application, from the load balancers (requests and health checks)' });
  }
  if (node.role === 'db' && spec.database) {
    const peers = [...of('web'), ...of('db').filter((a) => a !== node.address)];
    rules.push({ from: peers, ports: [spec.database.port], why: 'PostgreSQL from web nodes (db routers) and the other db members (replication, cloning)' });
  }
  addEdgeBackends(spec, node, rules);
  const dcs = spec.database?.dcs;
  if (dcs?.type === 'etcd') {
    const hosts = dcs.endpoints.flatMap((e) => parseHostPort(e) ?? []);
    const here = hosts.filter((hp) => sameAddress(hp.host, node.address)).map((hp) => hp.port);
    if (here.length > 0) {
      rules.push({ from: members, ports: here, why: 'etcd clients from cluster members' });
      // Raft traffic between the members; a member named by a DNS name cannot be a source here.
      const peers = hosts.filter((hp) => isIP(hp.host) !== 0 && !sameAddress(hp.host, node.address)).map((hp) => hp.host);
      if (peers.length > 0) rules.push({ from: peers, ports: [dcs.peerPort], why: 'etcd peers (raft) from the other etcd members' });
    }
  }
  if (node.role === 'monitor' && spec.firewall.adminNetworks.length > 0) {
    // The dashboard authenticates nobody: only admin networks reach it.
    rules.push({ from: spec.firewall.adminNetworks, ports: [spec.monitor.port], why: 'the monitor dashboard (HTTPS, no login) from admin networks' });
  }
  if (spec.firewall.adminNetworks.length > 0) {
    rules.push({ from: spec.firewall.adminNetworks, ports: [spec.firewall.sshPort, node.agentPort], why: 'SSH and the agent API (bulwark CLI, admin certificate) from admin networks' });
  }
  return rules;
}

/**
 * Edge backend servers that run on this node (a `node:` reference, or an `address:` whose host is
 * this node's address) take connections from the lbs: traffic on the server's port, health checks
 * on the check port. A port some rule already opens to every lb (the app on a web node, the agent
 * port as a check port) needs nothing more; the rest share one rule from the lbs.
 */
function addEdgeBackends(spec: ClusterSpec, node: NodeSpec, rules: Opening[]): void {
  const lbs = nodesWithRole(spec, 'lb').map((n) => n.address);
  if (lbs.length === 0) return;
  const uses = new Map<number, string[]>();
  const use = (port: number, what: string): void => {
    const list = uses.get(port) ?? [];
    if (!list.includes(what)) list.push(what);
    uses.set(port, list);
  };
  for (const b of spec.edge.backends) {
    for (const s of b.servers) {
      if (s.node !== node.name && !sameAddress(s.host, node.address)) continue;
      use(s.port, `${b.name}/${s.name}`);
      const check = b.healthCheck.port;
      if (check !== undefined && check !== s.port) use(check, `${b.name}/${s.name} health check`);
    }
  }
  const admitsLbs = (r: Opening): boolean => {
    const from = compileCidrs(r.from);
    return lbs.every((a) => inCidrs(from, a));
  };
  const own: [number, string[]][] = [];
  for (const [port, what] of [...uses].sort((a, b) => a[0] - b[0])) {
    if (!rules.some((r) => r.ports.includes(port) && admitsLbs(r))) own.push([port, what]);
  }
  if (own.length > 0) {
    const list = own.map(([port, what]) => `${port} ${what.join(', ')}`).join('; ');
    rules.push({ from: lbs, ports: own.map(([port]) => port), why: `edge backends (backend/server) from the load balancers: ${list}` });
  }
}

/** Both IP addresses and equal however written (`fd00::12` = `fd00:0::12`); false for DNS names. */
function sameAddress(a: string, b: string): boolean {
  const c = canonicalIp(a);
  return c !== undefined && c === canonicalIp(b);
}

export function hostRuleset(spec: ClusterSpec, node: NodeSpec): string {
  const lines = [
    `# Bulwark host firewall for ${node.name} (${node.role}, ${node.address}) of cluster "${spec.cluster}".`,
    `# Derived from ${spec.sourcePath}; apply with: bulwark firewall apply --node ${node.name}`,
    `table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    ct state established,related accept comment "replies to connections this host opened or accepted"',
    '    ct state invalid drop',
    '    iif "lo" accept comment "local traffic: the app and its db router on this host"',
    // Errors that belong to a tracked connection are `related` and accepted above, unlimited; these
    // limits bound only the untracked rest (a flood of forged errors), generously enough that path
    // MTU discovery and neighbour discovery on a busy link never go short.
    `    meta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem } ${ICMP_ERRORS} accept comment "ICMP errors (path MTU), rate-limited"`,
    '    meta l4proto icmp icmp type echo-request limit rate 10/second burst 20 packets accept comment "ping, rate-limited"',
    `    meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } ${ICMP_ERRORS} accept comment "ICMPv6 errors, rate-limited"`,
    `    meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 ${NEIGHBOUR_DISCOVERY} accept comment "IPv6 neighbour discovery (on-link only), rate-limited"`,
    '    meta l4proto ipv6-icmp icmpv6 type echo-request limit rate 10/second burst 20 packets accept comment "ping6, rate-limited"',
  ];
  for (const r of openings(spec, node)) lines.push(...render(r));
  lines.push('  }', '}', '');
  return lines.join('\n');
}

/** nftables keeps at most 128 bytes of a rule's comment (and refuses the script otherwise). */
const COMMENT_BYTES = 128;

function render(r: Opening): string[] {
  const ports = r.ports.length === 1 ? String(r.ports[0]) : `{ ${[...new Set(r.ports)].sort((a, b) => a - b).join(', ')} }`;
  const why = r.why.replace(/"/g, "'");
  const out: string[] = [];
  let short = why;
  if (Buffer.byteLength(why) > COMMENT_BYTES) {
    // The whole reason stays in the script as a line comment; the rule keeps what fits.
    out.push(`    # ${why}`);
    while (Buffer.byteLength(`${short}...`) > COMMENT_BYTES) short = short.slice(0, -1);
    short = `${short}...`;
  }
  const comment = `comment "${short}"`;
  const v4 = [...new Set(r.from.filter((a) => !isIPv6(a.split('/')[0]!)))];
  const v6 = [...new Set(r.from.filter((a) => isIPv6(a.split('/')[0]!)))];
  if (v4.length > 0) out.push(`    ip saddr ${set(v4)} tcp dport ${ports} accept ${comment}`);
  if (v6.length > 0) out.push(`    ip6 saddr ${set(v6)} tcp dport ${ports} accept ${comment}`);
  return out;
}

function set(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}
