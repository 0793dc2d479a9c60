import { BulwarkError } from '../core/errors.js';
import { didYouMean } from './suggest.js';
import type { ClusterSpec, NodeSpec, Role } from './types.js';

/** The node called `name`, or BWK_NODE_UNKNOWN listing the nodes the cluster file defines. */
export function findNode(spec: ClusterSpec, name: string): NodeSpec {
  const node = spec.nodes.find((n) => n.name === name);
  if (node) return node;
  const known = spec.nodes.map((n) => n.name);
  throw new BulwarkError(
    'BWK_NODE_UNKNOWN',
    `unknown node "${name}"${didYouMean(name, known)}; ${spec.sourcePath} defines: ${known.join(', ')}`,
    spec.nodes.map((n) => `${n.name} (${n.role}, ${n.address})`),
  );
}

/** The nodes of one role, in file order. */
export function nodesWithRole(spec: Pick<ClusterSpec, 'nodes'>, role: Role): NodeSpec[] {
  return spec.nodes.filter((n) => n.role === role);
}
