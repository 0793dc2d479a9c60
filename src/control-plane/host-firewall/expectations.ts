/**
 * What `bulwark firewall verify` expects between cluster members. Every node is probed on every
 * port the cluster uses anywhere (not only on the ports that node opens), so a hole opened by hand
 * on, say, a web node's PostgreSQL port is seen too: from a member the node's openings admit the
 * port must connect; from any other member it must not.
 *
 * The count is nodes × (nodes − 1) × cluster ports, one probe each: each prober gets at most
 * (nodes − 1) × ports targets, which the probe API takes in one request (MAX_PROBE_TARGETS).
 */
import { compileCidrs, inCidrs } from '../../core/cidr.js';
import { nodesWithRole } from '../../config/find-node.js';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { parseHostPort } from '../../config/value-rules.js';
import { openings } from './ruleset.js';

export interface Expectation {
  readonly from: NodeSpec;
  readonly to: NodeSpec;
  readonly port: number;
  readonly open: boolean;
  readonly why: string;
}

/**
 * Every TCP port some part of the cluster listens on or the firewall opens: whatever a node's
 * openings name (agent ports, the app, frontends, PostgreSQL, …), plus the ports no rule may
 * open (SSH without admin networks, the dashboard, edge servers and checks, etcd).
 */
export function clusterPorts(spec: ClusterSpec): number[] {
  const ports = new Set<number>([spec.firewall.sshPort]);
  if (nodesWithRole(spec, 'monitor').length > 0) ports.add(spec.monitor.port);
  if (nodesWithRole(spec, 'lb').length > 0) {
    for (const b of spec.edge.backends) {
      for (const s of b.servers) ports.add(s.port);
      if (b.healthCheck.port !== undefined) ports.add(b.healthCheck.port);
    }
  }
  const dcs = spec.database?.dcs;
  if (dcs?.type === 'etcd') {
    ports.add(dcs.peerPort);
    for (const e of dcs.endpoints) {
      const hp = parseHostPort(e);
      if (hp) ports.add(hp.port);
    }
  }
  for (const n of spec.nodes) for (const o of openings(spec, n)) for (const p of o.ports) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}

export function expectations(spec: ClusterSpec): Expectation[] {
  const ports = clusterPorts(spec);
  const out: Expectation[] = [];
  for (const to of spec.nodes) {
    const opened = openings(spec, to).map((o) => ({ ...o, sources: compileCidrs(o.from) }));
    for (const port of ports) {
      const onPort = opened.filter((o) => o.ports.includes(port));
      for (const from of spec.nodes) {
        if (from.name === to.name) continue;
        const grant = onPort.find((o) => inCidrs(o.sources, from.address));
        const why = grant?.why
          ?? (onPort.length > 0 ? `not among the sources of ${to.name}:${port}` : `${to.name} does not open ${port}`);
        out.push({ from, to, port, open: grant !== undefined, why });
      }
    }
  }
  return out;
}
