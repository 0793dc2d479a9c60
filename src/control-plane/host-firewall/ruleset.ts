/**
 * A node's host firewall, derived from the cluster file: an nftables script that owns one table
 * (`inet bulwark`), drops by default, and opens per role exactly what the topology needs. Pure:
 * the same spec always gives the same text, so golden files show every change as a diff.
 *
 * The script is atomic and idempotent under `nft -f`: it creates the table (a no-op if it
 * exists), deletes it, and defines it again, all in one transaction; other tables (Docker's,
 * the distribution's) are left alone.
 */
import { isIPv6 } from 'node:net';
import { nodesWithRole, type ClusterSpec, type NodeSpec, type Role } from '../../config/index.js';
import { parseHostPort } from '../../config/value-rules.js';

export const TABLE = 'bulwark';

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
  const dcs = spec.database?.dcs;
  if (dcs?.type === 'etcd') {
    const here = dcs.endpoints.map((e) => parseHostPort(e)).filter((hp) => hp?.host === node.address).map((hp) => hp!.port);
    if (here.length > 0) rules.push({ from: members, ports: here, why: 'etcd clients from cluster members' });
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
    '    meta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem } accept comment "ICMP errors (path MTU)"',
    '    meta l4proto icmp icmp type echo-request limit rate 10/second burst 20 packets accept comment "ping, rate-limited"',
    '    meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept comment "ICMPv6 errors"',
    '    meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept comment "IPv6 neighbour discovery (on-link only)"',
    '    meta l4proto ipv6-icmp icmpv6 type echo-request limit rate 10/second burst 20 packets accept comment "ping6, rate-limited"',
  ];
  for (const r of openings(spec, node)) lines.push(...render(r));
  lines.push('  }', '}', '');
  return lines.join('\n');
}

function render(r: Opening): string[] {
  const ports = r.ports.length === 1 ? String(r.ports[0]) : `{ ${[...new Set(r.ports)].sort((a, b) => a - b).join(', ')} }`;
  const comment = `comment "${r.why.replace(/"/g, "'")}"`;
  const v4 = [...new Set(r.from.filter((a) => !isIPv6(a.split('/')[0]!)))];
  const v6 = [...new Set(r.from.filter((a) => isIPv6(a.split('/')[0]!)))];
  const out: string[] = [];
  if (v4.length > 0) out.push(`    ip saddr ${set(v4)} tcp dport ${ports} accept ${comment}`);
  if (v6.length > 0) out.push(`    ip6 saddr ${set(v6)} tcp dport ${ports} accept ${comment}`);
  return out;
}

function set(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}
