/** Where the cluster CA lives: `pki/` in the state folder (one machine), `ca.crt` and `ca.key` in it. */
import path from 'node:path';
import type { ClusterSpec } from '../../config/types.js';

export function caDirOf(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return path.join(spec.stateDir, 'pki');
}

export const caCertPath = (dir: string): string => path.join(dir, 'ca.crt');
export const caKeyPath = (dir: string): string => path.join(dir, 'ca.key');
