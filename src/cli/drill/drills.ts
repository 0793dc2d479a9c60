/**
 * The named drills of `bulwark drill`: which node each one kills, picked from the live status,
 * and when the cluster has healed around the loss (before the node is started again).
 * Drills that cut a host off the network need separate hosts: they run in the namespace lab
 * (`npm run drill`), and say so here.
 */
import type { ClusterSpec } from '../../config/types.js';
import type { ClusterStatusView } from '../cluster-status.js';

export interface Drill {
  readonly name: string;
  readonly what: string;
  /** Why this drill can never run on this cluster (its topology), or undefined. */
  refuse?(spec: ClusterSpec): string | undefined;
  /** The node to kill, picked from the live status of a healthy cluster, or why none fits right now. */
  pick(spec: ClusterSpec, st: ClusterStatusView): { node: string } | { refuse: string };
  /** True once the cluster serves again without the victim (e.g. a new primary); `before` is the status at the kill. */
  healed(st: ClusterStatusView, victim: string): boolean;
}

const servesEdge = (st: ClusterStatusView): boolean => st.edge?.active != null;

export const DRILLS: readonly Drill[] = [
  {
    name: 'kill-active-lb',
    what: 'SIGKILL the lb holding the VIP; the passive must take it over',
    pick: (_spec, st) => (st.edge?.active ? { node: st.edge.active } : { refuse: 'no lb holds the VIP' }),
    healed: (st, victim) => st.edge?.active != null && st.edge.active !== victim,
  },
  {
    name: 'kill-web',
    what: 'SIGKILL a web node in service; the edge retries and ejects it',
    pick: (_spec, st) => {
      const s = st.edge?.backends.flatMap((b) => b.servers).find((x) => x.up && !x.backup);
      return s ? { node: s.name } : { refuse: 'no web server is up' };
    },
    healed: (st, victim) => servesEdge(st) && (st.edge?.backends.flatMap((b) => b.servers).filter((s) => s.name === victim).every((s) => !s.up) ?? false),
  },
  {
    name: 'kill-primary',
    refuse: (spec) => (spec.database ? undefined : 'the cluster has no database'),
    what: 'SIGKILL the database primary; a replica must take the leader lock and promote',
    pick: (_spec, st) => (st.database?.primary ? { node: st.database.primary } : { refuse: 'there is no primary (no database, or none elected)' }),
    healed: (st, victim) => st.database?.primary != null && st.database.primary !== victim,
  },
  {
    name: 'kill-replica',
    refuse: (spec) => (spec.database ? undefined : 'the cluster has no database'),
    what: 'SIGKILL a streaming replica; the primary keeps taking writes',
    pick: (_spec, st) => {
      const r = st.database?.members.find((m) => m.role === 'replica');
      return r ? { node: r.name } : { refuse: 'no replica is streaming' };
    },
    healed: (st) => st.database?.primary != null,
  },
  {
    name: 'kill-monitor',
    what: 'SIGKILL the monitor; nothing the users see may change',
    refuse: (spec) => (spec.nodes.some((n) => n.role === 'monitor') ? undefined : 'the cluster has no monitor node'),
    pick: (spec) => ({ node: spec.nodes.find((n) => n.role === 'monitor')!.name }),
    healed: (st) => servesEdge(st),
  },
  {
    name: 'stop-dcs',
    what: 'SIGKILL the node hosting the embedded DCS; failsafe keeps the primary serving, nobody fails over',
    refuse: (spec) => (spec.database === undefined ? 'the cluster has no database'
      : spec.database.dcs.type === 'embedded' ? undefined
        : 'the DCS is etcd: stopping it is an etcd outage, drilled in the namespace lab (npm run drill)'),
    pick: (spec) => (spec.database?.dcs.type === 'embedded' ? { node: spec.database.dcs.node } : { refuse: 'the DCS is not embedded' }),
    healed: (st) => st.database?.primary != null,
  },
  {
    name: 'cut-host',
    what: 'cut a host off the network (partition)',
    refuse: () => 'cutting a host off needs separate hosts: run it in the namespace lab with `npm run drill` (root)',
    pick: () => ({ refuse: 'needs the namespace lab' }),
    healed: () => true,
  },
];

export function drillNamed(name: string): Drill | undefined {
  return DRILLS.find((d) => d.name === name);
}
