/**
 * Checks `bulwark reload` makes before any node sees the file: what no node can refuse on its
 * own once the others have applied it.
 */
import type { ClusterSpec } from '../config/types.js';
import { nodesWithRole } from '../config/index.js';
import { callAgent } from './agent-client.js';

/**
 * The file must still name the primary: the web nodes would drop it from their routers (every
 * write fails) before its own member could object. Asks the db members of the file which member
 * holds the leader lock; undefined when none answers (nothing to compare with: a new cluster).
 */
export async function primaryRemovedRefusal(spec: ClusterSpec): Promise<string | undefined> {
  const dbs = nodesWithRole(spec, 'db');
  for (const n of dbs) {
    const r = await callAgent<{ db?: { leader?: string | null } }>(spec, n, 'GET', '/status');
    if (!r.ok) continue;
    const leader = r.body?.db?.leader;
    if (!leader) return undefined;
    if (dbs.some((d) => d.name === leader)) return undefined;
    return `${leader} is the primary and the file no longer has it: switch over first (bulwark switchover --to ${dbs[0]?.name ?? 'MEMBER'}), then remove it; no node was changed`;
  }
  return undefined;
}
