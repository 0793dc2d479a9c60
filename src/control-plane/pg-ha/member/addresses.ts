/** Every db member's addresses, from the cluster file. */
import type { ClusterSpec } from '../../../config/types.js';
import type { MemberAddress } from '../loop/ports.js';

export function memberAddresses(spec: ClusterSpec): MemberAddress[] {
  return spec.nodes.filter((n) => n.role === 'db').map((n) => {
    const host = n.address.includes(':') ? `[${n.address}]` : n.address;
    return { name: n.name, host: n.address, pgPort: spec.database!.port, api: `http://${host}:${n.agentPort}` };
  });
}
