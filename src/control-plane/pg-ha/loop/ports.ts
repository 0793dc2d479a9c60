/**
 * What the HA loop needs from the world besides the DCS, as narrow interfaces: this member's
 * PostgreSQL (PgPort) and the other members' agents (PeerPort). The loop is tested with fakes of
 * these and a real in-process DCS on a manual clock; the agent wires the real adapters.
 */
import type { MemberInfo, PeerObservation, PgObservation } from '../core/types.js';

/** Where to reach a member (from its DCS member key or the cluster file). */
export interface MemberAddress {
  readonly name: string;
  readonly host: string;
  readonly pgPort: number;
  readonly api: string;
}

export interface PgPort {
  observe(): Promise<PgObservation>;
  /** initdb, bootstrap roles and database, start as primary. Only after winning the initialize key. */
  initialize(): Promise<void>;
  /** Start the existing data dir (as a primary, or as a replica of `leader`). */
  start(as: 'primary' | 'replica', leader?: MemberAddress): Promise<void>;
  /** Promote a replica; resolves once it accepts writes. */
  promote(): Promise<void>;
  /** Stop taking writes now (immediate stop). Must be fast and must not fail silently. */
  fence(reason: string): Promise<void>;
  /** Planned stop of a primary: clean (fast) shutdown that ships its remaining WAL first. */
  demote(reason: string): Promise<void>;
  /** Empty data dir → a streaming replica of leader. */
  clone(leader: MemberAddress): Promise<void>;
  /** A running replica streams from someone else: re-point it without a restart where possible. */
  follow(leader: MemberAddress): Promise<void>;
  /**
   * Stopped data → a replica of leader: started as it is (the core checked that its WAL is a
   * prefix of the leader's), or with `fresh` rewound (pg_rewind) or re-cloned first.
   */
  rejoin(leader: MemberAddress, opts?: { fresh?: boolean }): Promise<void>;
  /** synchronous_standby_names = ANY 1 (names) or '' — applied and reloaded. */
  setSyncNames(names: readonly string[]): Promise<void>;
  /** Release resources (does not stop PostgreSQL: the member decides that). */
  close(): Promise<void>;
}

export interface PeerPort {
  /** Ask a member's agent for its live HA state. */
  observe(member: MemberAddress): Promise<PeerObservation>;
  /** Failsafe: tell a member we are still the primary; true when it acknowledged. */
  failsafeHeartbeat(member: MemberAddress, from: string): Promise<boolean>;
}

export type { MemberInfo };
