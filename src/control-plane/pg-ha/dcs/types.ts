/**
 * The DCS (distributed configuration store) that the database HA loop trusts for leadership.
 * Every backend (etcd for multi-machine clusters, the embedded store for one machine) implements
 * this interface and passes the same contract suite (test/unit/dcs-contract.ts run per backend).
 *
 * Consistency rules are written on each method: an implementation that cannot keep one must not
 * exist. All keys live under one cluster namespace (`/bulwark/<cluster>/`). Times are
 * milliseconds. Methods reject with DcsUnavailableError when the store cannot be reached or does
 * not answer in time; the HA loop treats that as "could not renew" (fence unless failsafe says
 * otherwise), never as "someone else is leader".
 */

export class DcsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DcsUnavailableError';
  }
}

/** The leader lock: who holds it and an opaque version that changes on every write. */
export interface LeaderLock {
  readonly holder: string;
  readonly version: string;
  /** TTL the holder last set, for display only (expiry is judged by the store, not by readers). */
  readonly ttlMs: number;
}

/** What a member publishes about itself every loop (free-form JSON, kept small). */
export type MemberData = Readonly<Record<string, unknown>>;

export interface MemberRecord {
  readonly name: string;
  readonly data: MemberData;
}

/** A small JSON document with a version, for compare-and-set (sync state, failover request…). */
export interface VersionedDoc<T = unknown> {
  readonly value: T;
  readonly version: string;
}

/** Names of the versioned documents besides the leader lock and the members. */
export type DocKey = 'initialize' | 'sync' | 'failover' | 'config' | 'history' | 'failsafe';

export interface ClusterView {
  readonly leader?: LeaderLock;
  /** Live members only: a member whose key expired is absent. Sorted by name. */
  readonly members: readonly MemberRecord[];
  readonly docs: Readonly<Partial<Record<DocKey, VersionedDoc>>>;
}

export interface Dcs {
  /** Human name of the backend and where it is, for logs and status ("etcd 127.0.0.1:2379"). */
  readonly description: string;

  /**
   * One consistent snapshot of the cluster namespace (a single linearizable read: leader,
   * members and docs as of the same moment).
   */
  read(): Promise<ClusterView>;

  /**
   * The leader race. Atomically: if no leader key exists, create it holding `name` with a TTL
   * of ttlMs, and return true; otherwise change nothing and return false. Of any number of
   * concurrent callers at most one gets true. The key disappears by itself ttlMs after the last
   * successful acquire/renew unless renewed (a holder that dies loses it after at most ttlMs).
   * A backend may round ttlMs up to its minimum (etcd: 2 s) and must say so in `minTtlMs`.
   */
  acquireLeader(name: string, ttlMs: number): Promise<boolean>;

  /**
   * Renew the lock. Atomically: if the leader key exists and holds `name`, restart its TTL at
   * ttlMs and return true; otherwise change nothing and return false (the caller has lost the
   * lock and must fence). Never creates the key.
   */
  renewLeader(name: string, ttlMs: number): Promise<boolean>;

  /** Delete the leader key only if it holds `name` (graceful hand-over). True when deleted. */
  releaseLeader(name: string): Promise<boolean>;

  /**
   * Publish this member's data under its own key with a TTL (refreshed every loop). Last writer
   * wins; only the member itself writes its key.
   */
  touchMember(name: string, data: MemberData, ttlMs: number): Promise<void>;

  deleteMember(name: string): Promise<void>;

  /**
   * Compare-and-set a document. `expectedVersion` null: create only if absent. A string: write
   * only if the current version equals it. Undefined: write unconditionally. True when written.
   */
  setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): Promise<boolean>;

  /** Delete a document, only if its version matches when one is given. True when deleted. */
  deleteDoc(key: DocKey, expectedVersion?: string): Promise<boolean>;

  /**
   * Resolve when anything in the namespace changes after this call, or after timeoutMs,
   * whichever comes first (lets replicas react to a released lock within milliseconds instead of
   * a loop interval). Never rejects: an unreachable store just waits out the timeout.
   */
  waitForChange(timeoutMs: number): Promise<void>;

  /** The smallest TTL the backend honours. */
  readonly minTtlMs: number;

  close(): Promise<void>;
}
