/**
 * What `bulwark firewall verify` expects between cluster members: for every port a node opens,
 * every other member either may connect (its address is in the opening's sources) or must not.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { openings } from './ruleset.js';

export interface Expectation {
  readonly from: NodeSpec;
  readonly to: NodeSpec;
  readonly port: number;
  readonly open: boolean;
  readonly why: string;
}

/** Is `ip` among these sources (addresses or CIDRs)? */
function matches(cidrs: readonly string[], ip: string): boolean {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    list.addSubnet(addr!, Number(bits ?? (isIPv6(addr!) ? 128 : 32)), isIPv6(addr!) ? 'ipv6' : 'ipv4');
  }
  return list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
}

export function expectations(spec: ClusterSpec): Expectation[] {
  const out: Expectation[] = [];
  for (const to of spec.nodes) {
    const opened = openings(spec, to);
    const ports = [...new Set(opened.flatMap((o) => o.ports))];
    for (const port of ports) {
      for (const from of spec.nodes) {
        if (from.name === to.name) continue;
        const grant = opened.find((o) => o.ports.includes(port) && matches(o.from, from.address));
        out.push({ from, to, port, open: grant !== undefined, why: grant?.why ?? `not among the sources of ${to.name}:${port}` });
      }
    }
  }
  return out;
}
