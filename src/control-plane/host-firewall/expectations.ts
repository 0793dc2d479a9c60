/**
 * What `bulwark firewall verify` expects between cluster members: for every port a node opens,
 * every other member either may connect (its address is in the opening's sources) or must not.
 */
import { compileCidrs, inCidrs } from '../../core/cidr.js';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { openings } from './ruleset.js';

export interface Expectation {
  readonly from: NodeSpec;
  readonly to: NodeSpec;
  readonly port: number;
  readonly open: boolean;
  readonly why: string;
}

export function expectations(spec: ClusterSpec): Expectation[] {
  const out: Expectation[] = [];
  for (const to of spec.nodes) {
    const opened = openings(spec, to).map((o) => ({ ...o, sources: compileCidrs(o.from) }));
    const ports = [...new Set(opened.flatMap((o) => o.ports))];
    for (const port of ports) {
      for (const from of spec.nodes) {
        if (from.name === to.name) continue;
        const grant = opened.find((o) => o.ports.includes(port) && inCidrs(o.sources, from.address));
        out.push({ from, to, port, open: grant !== undefined, why: grant?.why ?? `not among the sources of ${to.name}:${port}` });
      }
    }
  }
  return out;
}
