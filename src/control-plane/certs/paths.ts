/** Where the cluster CA lives: `pki/` in the state folder (one machine), `ca.crt` and `ca.key` in it. */
import path from 'node:path';
import type { ClusterSpec } from '../../config/types.js';

export function caDirOf(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return path.join(spec.stateDir, 'pki');
}

export const caCertPath = (dir: string): string => path.join(dir, 'ca.crt');
export const caKeyPath = (dir: string): string => path.join(dir, 'ca.key');
/** The edge certificate `bulwark certs issue --edge` makes for lbs on hosts without the CA key. */
export const edgeCertPaths = (dir: string): { cert: string; key: string } => ({ cert: path.join(dir, 'edge.crt'), key: path.join(dir, 'edge.key') });
