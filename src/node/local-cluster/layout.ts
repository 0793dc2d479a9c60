/** Where a local cluster keeps its files under the state folder. */
import path from 'node:path';
import type { ClusterSpec } from '../../config/types.js';

export interface Layout {
  readonly root: string;
  readonly controlSocket: string;
  readonly upPid: string;
  readonly upLog: string;
  nodeDir(name: string): string;
  nodeLog(name: string): string;
  nodePid(name: string): string;
}

export function layoutOf(spec: ClusterSpec): Layout {
  const root = spec.stateDir;
  return {
    root,
    controlSocket: path.join(root, 'control.sock'),
    upPid: path.join(root, 'up.pid'),
    upLog: path.join(root, 'up.log'),
    nodeDir: (name) => path.join(root, 'nodes', name),
    nodeLog: (name) => path.join(root, 'nodes', name, 'node.log'),
    nodePid: (name) => path.join(root, 'nodes', name, 'node.pid'),
  };
}
