/**
 * What a new cluster file changes for one db member, split into what a running member applies
 * at once (the other members, the web nodes pg_hba admits) and what waits for its restart (its
 * own settings, the `database` section).
 */
import type { ClusterSpec, DatabaseSpec, NodeSpec } from '../../../config/types.js';

export interface MemberChanges {
  /** Other db members new in the file, removed from it, or at a new address. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly moved: readonly string[];
  /** The web nodes' addresses (pg_hba admits the app role from them) changed. */
  readonly clientsChanged: boolean;
  /** What only a restart of this member applies: `database` keys, or this node's own entry. */
  readonly restartOnly: readonly string[];
}

const dbMembers = (spec: ClusterSpec, self: string): Map<string, NodeSpec> =>
  new Map(spec.nodes.filter((n) => n.role === 'db' && n.name !== self).map((n) => [n.name, n]));

const webAddresses = (spec: ClusterSpec): string => spec.nodes.filter((n) => n.role === 'web').map((n) => n.address).sort().join(',');

/**
 * The `database` fields a running member reads only at its start, in the file's words. `router`
 * is not one: the web nodes' routers apply it on their reload, and /replica reads its max_lag live.
 */
const DATABASE_KEYS: Readonly<Record<Exclude<keyof DatabaseSpec, 'router'>, string>> = {
  mode: 'mode', strict: 'strict', port: 'port', name: 'name', user: 'user', binDir: 'bin_dir', ttlMs: 'ttl', loopMs: 'loop',
  maximumLagOnFailoverBytes: 'maximum_lag_on_failover', failsafe: 'failsafe', dcs: 'dcs', parameters: 'parameters',
};

export function memberChanges(prev: ClusterSpec, next: ClusterSpec, self: string): MemberChanges {
  const before = dbMembers(prev, self);
  const after = dbMembers(next, self);
  const restartOnly: string[] = [];
  const [a, b] = [prev.database, next.database];
  for (const [k, key] of Object.entries(DATABASE_KEYS) as [keyof DatabaseSpec, string][]) {
    if (JSON.stringify(a?.[k]) !== JSON.stringify(b?.[k])) restartOnly.push(`database.${key}`);
  }
  const mine = (s: ClusterSpec): NodeSpec | undefined => s.nodes.find((n) => n.name === self);
  if (mine(prev)?.nofailover !== mine(next)?.nofailover) restartOnly.push(`nofailover of ${self}`);
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    moved: [...after.values()].filter((n) => before.has(n.name) && before.get(n.name)!.address !== n.address).map((n) => n.name),
    clientsChanged: webAddresses(prev) !== webAddresses(next),
    restartOnly,
  };
}
