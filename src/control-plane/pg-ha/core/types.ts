/**
 * The HA loop's functional core: `decide(snapshot) → { actions, summary }`. The snapshot is
 * everything the loop observed this cycle (PostgreSQL, the DCS, peers, the clock); actions are
 * executed in order by the loop and the first failure stops the rest. No I/O and no clock here.
 */
import type { ClusterView } from '../dcs/types.js';

export interface HaConfig {
  /** Leader lock TTL. */
  readonly ttlMs: number;
  /** Loop interval. */
  readonly loopMs: number;
  /** A replica further behind the last known primary position than this may not be promoted. */
  readonly maximumLagOnFailoverBytes: number;
  readonly mode: 'async' | 'sync';
  /** sync mode: never fall back to async when no standby is left (writes block instead). */
  readonly strict: boolean;
  /** Keep a primary that cannot reach the DCS serving while every member confirms it. */
  readonly failsafe: boolean;
  /**
   * A primary that cannot renew fences itself this long before the lock could expire elsewhere
   * (covers one loop of delay and the stop itself).
   */
  readonly fenceMarginMs: number;
}

/** Timeline `timeline` of a primary's ancestry ended at WAL position `end` (bytes), where the next one forked off. */
export interface TimelineSwitch {
  readonly timeline: number;
  readonly end: number;
}

/** What this member's PostgreSQL looks like right now. */
export interface PgObservation {
  /** `absent`: no data directory yet. `stopped`: data, not running. */
  readonly state: 'absent' | 'stopped' | 'running' | 'starting';
  /** While running: primary (read-write) or replica (in recovery). */
  readonly role?: 'primary' | 'replica';
  readonly timeline?: number;
  /** Primary: current WAL insert position; replica: last received (flushed) position; bytes. */
  readonly walPosition?: number;
  /** Replica: the member it streams from (undefined when not streaming). */
  readonly streamingFrom?: string;
  /** Replica: the member its primary_conninfo names (it may not be streaming from it yet). */
  readonly upstream?: string;
  /** Replica: how long it has been running without streaming (0 while streaming). */
  readonly notStreamingMs?: number;
  /** Replica: timeline of the WAL it receives. */
  readonly receivedTimeline?: number;
  /** Primary: replicas in pg_stat_replication that stream and their flushed position. */
  readonly standbys?: readonly { readonly name: string; readonly flushPosition: number; readonly sync: boolean }[];
  /** Primary: members named in synchronous_standby_names (empty: async). */
  readonly syncNames?: readonly string[];
  /** Primary: the ancestry of its timeline (empty on timeline 1). */
  readonly history?: readonly TimelineSwitch[];
  /**
   * Stopped: where its WAL ends (the end of the last valid record, as replay counts it) and that
   * record's timeline; or why that could not be read.
   */
  readonly walEnd?: { readonly timeline: number; readonly position: number } | { readonly error: string };
  /** Stopped: the last start of this data dir failed (cleared by a successful start or a clone). */
  readonly startFailed?: string;
  /** Replica not streaming: PostgreSQL said why it cannot follow its upstream (a server log line). */
  readonly cannotFollow?: string;
}

/** What a member publishes in its DCS member key every loop. */
export interface MemberInfo {
  readonly role: 'primary' | 'replica' | 'stopped' | 'absent';
  readonly timeline?: number;
  readonly walPosition?: number;
  readonly nofailover?: boolean;
  /** The agent API base URL other members use to reach it. */
  readonly api?: string;
  /** Replica: the member it streams from. */
  readonly following?: string;
  /** Primary: the ancestry of its timeline, so a stopped member can tell whether it may follow. */
  readonly history?: readonly TimelineSwitch[];
}

/** The sync doc in the DCS: members guaranteed to hold every acknowledged commit between them. */
export interface SyncDoc {
  readonly leader: string;
  /** Quorum set S_dcs: any promotion candidate must be in it and the most advanced of it. */
  readonly members: readonly string[];
  /**
   * Coming back from async (no sync standby): `name` was made synchronous when the primary was
   * at `position`; it joins `members` once it has flushed that far.
   */
  readonly catchUp?: { readonly name: string; readonly position: number };
  /**
   * Standbys taken out of S_pg (gone, or removed from the cluster file) when the primary was at
   * `position`: they leave `members` once a standby still in S_pg has flushed that far (until
   * then, a commit only they acknowledged may be on them alone).
   */
  readonly leaving?: { readonly names: readonly string[]; readonly position: number };
}

/** A planned switchover (written by `bulwark switchover`). */
export interface FailoverDoc {
  readonly from: string;
  readonly to?: string;
  readonly requestedAt: number;
}

export interface PeerObservation {
  /** The peer's agent answered this cycle. */
  readonly reachable: boolean;
  readonly walPosition?: number;
  readonly timeline?: number;
  readonly role?: MemberInfo['role'];
  /** Failsafe: the peer acknowledged our heartbeat this cycle. */
  readonly failsafeAck?: boolean;
}

export interface HaSnapshot {
  readonly now: number;
  readonly config: HaConfig;
  readonly self: { readonly name: string; readonly nofailover: boolean };
  readonly pg: PgObservation;
  /** The DCS as read this cycle, or why it could not be read. */
  readonly dcs: { readonly ok: true; readonly view: ClusterView } | { readonly ok: false; readonly error: string };
  /**
   * The lock as this member knows it: `renewedAt` is when the last successful acquire or renew
   * was SENT (the store's TTL started no earlier), undefined when we do not hold it.
   */
  readonly lock: { readonly renewedAt?: number };
  /** All members of the cluster file (the DCS only knows live ones). */
  readonly clusterMembers: readonly string[];
  /** Live observations of peers (agent API), when the loop had to look (election, failsafe). */
  readonly peers: Readonly<Record<string, PeerObservation>>;
  /** Failsafe heartbeat last received from a primary that lost the DCS. */
  readonly failsafeHeartbeat?: { readonly from: string; readonly at: number };
  /** Last known primary WAL position (from the history doc or the leader's member key). */
  readonly lastLeaderPosition?: number;
}

export type HaAction =
  | { readonly type: 'initialize' }
  | { readonly type: 'acquire-lock' }
  | { readonly type: 'renew-lock' }
  | { readonly type: 'release-lock' }
  /** `handOverFrom`: the primary a switchover document named as handing over (a planned promotion). */
  | { readonly type: 'promote'; readonly handOverFrom?: string }
  | { readonly type: 'fence'; readonly reason: string }
  | { readonly type: 'start'; readonly as: 'primary' | 'replica'; readonly leader?: string }
  | { readonly type: 'clone'; readonly from: string }
  | { readonly type: 'follow'; readonly leader: string }
  /** Stopped data → a replica of leader: follow with the data as it is, or (fresh) rewind or re-clone it first. */
  | { readonly type: 'rejoin'; readonly leader: string; readonly fresh?: boolean }
  | { readonly type: 'failsafe-heartbeat' }
  | { readonly type: 'set-sync-dcs'; readonly doc: SyncDoc }
  | { readonly type: 'set-sync-pg'; readonly names: readonly string[] }
  | { readonly type: 'clear-failover' }
  /** Planned hand-over: stop PostgreSQL cleanly (fast shutdown ships the remaining WAL). */
  | { readonly type: 'demote'; readonly reason: string }
  /** Pin the switchover target the primary chose, so the replicas agree on it. */
  | { readonly type: 'set-failover'; readonly doc: FailoverDoc };

export interface HaDecision {
  readonly actions: readonly HaAction[];
  /** One human sentence saying what this cycle does and why (logged every cycle). */
  readonly summary: string;
  /** The role this member will have if the actions succeed. */
  readonly role: 'primary' | 'replica' | 'fenced' | 'waiting' | 'initializing';
}
