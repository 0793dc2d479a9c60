/** Every db member's addresses, from the cluster file. */
import type { ClusterSpec } from '../../../config/types.js';
import type { MemberAddress } from '../loop/ports.js';
import { agentUrl } from '../../agent-api/index.js';

export function memberAddresses(spec: ClusterSpec): MemberAddress[] {
  return spec.nodes.filter((n) => n.role === 'db').map((n) => ({ name: n.name, host: n.address, pgPort: spec.database!.port, api: agentUrl(n) }));
}
