/**
 * May a replica serve reads (the db router's `/replica` check), and how far behind is it?
 *
 * While the lock has a holder: only a replica streaming from it, measured against the holder's
 * published position. While the lock has no holder (the primary died or is cut off and a
 * failover is pending, or the DCS is out of reach) a replica that was streaming from the last
 * holder goes on serving, measured against that holder's last position, as Patroni's /replica
 * does: its data is as fresh as any left, and its readers are not sent to a primary that may be
 * unreachable. A member that was not streaming from that holder (an old primary waiting to
 * rejoin, with commits nobody acknowledged) serves no reads.
 */
import type { PgObservation } from './types.js';

export interface LeaderSeen {
  /** The lock holder now, or undefined. */
  readonly leader: string | undefined;
  /** Its published WAL position, if known. */
  readonly leaderPos: number | undefined;
}

/** The holder this replica last streamed from, and that holder's position then. */
export interface LastStreamed {
  readonly leader: string;
  readonly leaderPos: number;
}

export interface ReplicaLag {
  readonly bytes: number;
  /** Measured against the last holder: the lock has none now. */
  readonly leaderLost: boolean;
}

/** The lag to judge reads by, or undefined when this member may not serve reads as a replica. */
export function replicaReadLag(pg: PgObservation | undefined, now: LeaderSeen, last: LastStreamed | undefined): ReplicaLag | undefined {
  if (pg?.state !== 'running' || pg.role !== 'replica' || pg.walPosition === undefined) return undefined;
  if (now.leader !== undefined) {
    if (pg.streamingFrom !== now.leader || now.leaderPos === undefined) return undefined;
    return { bytes: Math.max(0, now.leaderPos - pg.walPosition), leaderLost: false };
  }
  if (!last || (pg.streamingFrom !== undefined && pg.streamingFrom !== last.leader)) return undefined;
  return { bytes: Math.max(0, last.leaderPos - pg.walPosition), leaderLost: true };
}

/** After an HA cycle: what to remember as LastStreamed (kept while the lock has no holder). */
export function nextLastStreamed(pg: PgObservation | undefined, now: LeaderSeen, last: LastStreamed | undefined): LastStreamed | undefined {
  if (pg?.state !== 'running' || pg.role !== 'replica') return undefined;
  if (now.leader === undefined) return last;
  return pg.streamingFrom === now.leader && now.leaderPos !== undefined ? { leader: now.leader, leaderPos: now.leaderPos } : undefined;
}
