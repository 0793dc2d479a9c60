/**
 * The embedded DCS: the one-machine default, for clusters that do not run etcd.
 *
 * One agent process hosts an EmbeddedDcsStore (the state machine, in memory, single-threaded so
 * every operation is atomic) and serves it on its agent API under /dcs/v1/ (embedded-api.ts).
 * Every db member's HA loop talks to it through EmbeddedDcsClient (embedded-client.ts), or,
 * when it runs in the hosting process itself, through EmbeddedDcsLocal below.
 *
 *   HA loop ──Dcs──▶ EmbeddedDcsClient ──HTTP /dcs/v1/*──▶ AgentApi ──▶ EmbeddedDcsStore ──▶ file
 *   HA loop ──Dcs──▶ EmbeddedDcsLocal ─────────────────────────────────▶ (same store)
 *
 * Keys: the leader lock, one key per member, one versioned document per DocKey. TTLs are judged
 * by the store's injected Clock (keys expire at an absolute time; a timer deletes them and wakes
 * waiters, and every operation first drops what is due, so a late timer is never observed).
 * One global revision counter gives every write an opaque version (the revision it happened at),
 * and lets waiters ask "anything after revision N?" without missing a change between a read and
 * the wait. A renewal that changes nothing but the expiry does not advance the revision (like an
 * etcd lease keepalive), so waiters are not woken every loop.
 *
 * With `file`, the state is rewritten atomically (temp file + fsync + rename) before a write is
 * acknowledged, and reloaded at start with expiry kept as absolute times: a quick restart of the
 * host process is transparent to the members (keys that expired meanwhile are dropped; the others
 * keep exactly the deadline they had), and a revision never goes backwards.
 *
 * What it survives: the death of any db member (its keys expire; the others race for the lock);
 * a restart of its host process (thanks to the file; calls made while it is down reject with
 * DcsUnavailableError and the HA loop treats them as "could not renew").
 * What it does not survive: the death of its host machine. Until that machine is back, no
 * failover is possible (nobody can take the lock); the HA loop's failsafe keeps a primary that
 * still reaches every member serving, and a primary that cannot prove that fences. Use etcd on
 * three machines when that is not acceptable.
 */
import type { Logger } from '../../../core/log.js';
import { systemClock, type Clock, type TimerHandle } from '../../../core/clock.js';
import { byName, checkDocKey, checkExpectedVersion, checkName, checkTtl, isPlainObject, toJsonText } from './common.js';
import { FILE_FORMAT, readStateFile, writeStateFile, type PersistedState } from './embedded-file.js';
import {
  DcsUnavailableError,
  type ClusterView,
  type Dcs,
  type DocKey,
  type LeaderLock,
  type MemberData,
  type MemberRecord,
  type VersionedDoc,
} from './types.js';

export const EMBEDDED_MIN_TTL_MS = 100;

export interface EmbeddedDcsStoreOptions {
  /** The cluster this store serves (checked against the file and against every client). */
  readonly cluster: string;
  readonly clock?: Clock;
  /** Persist to this file on every write and reload it at start. */
  readonly file?: string;
  /** fsync the file and its folder on every write (default true: survives a power cut too). */
  readonly fsync?: boolean;
  readonly log?: Logger;
}

/** A read: the view and the revision it was taken at. */
export interface StoreSnapshot {
  readonly revision: number;
  readonly view: ClusterView;
}

export interface WaitResult {
  /** True when the revision moved past `since` (or `since` came from another incarnation). */
  readonly changed: boolean;
  readonly revision: number;
}

interface LeaderEntry {
  holder: string;
  version: number;
  ttlMs: number;
  expiresAt: number;
}

interface MemberEntry {
  data: MemberData;
  text: string;
  version: number;
  ttlMs: number;
  expiresAt: number;
}

interface DocEntry {
  value: unknown;
  text: string;
  version: number;
}

interface Waiter {
  since: number;
  timer: TimerHandle;
  resolve: (r: WaitResult) => void;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v as Record<string, unknown>)) deepFreeze(child);
  }
  return v;
}

/** A private copy of JSON data that nobody can mutate behind the store's back. */
function frozenCopy(text: string): unknown {
  return deepFreeze(JSON.parse(text) as unknown);
}

function parseVersion(v: string): number | undefined {
  return /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : undefined;
}

export class EmbeddedDcsStore {
  readonly cluster: string;
  readonly clock: Clock;
  readonly minTtlMs = EMBEDDED_MIN_TTL_MS;
  private readonly file: string | undefined;
  private readonly fsync: boolean;
  private readonly log: Logger | undefined;
  private rev = 0;
  private leader: LeaderEntry | undefined;
  private readonly members = new Map<string, MemberEntry>();
  private readonly docs = new Map<DocKey, DocEntry>();
  private readonly waiters = new Set<Waiter>();
  private expiryTimer: TimerHandle | undefined;
  private expiryTimerAt = Infinity;
  private closed = false;

  constructor(opts: EmbeddedDcsStoreOptions) {
    if (typeof opts.cluster !== 'string' || opts.cluster === '') throw new TypeError('EmbeddedDcsStore needs a cluster name');
    this.cluster = opts.cluster;
    this.clock = opts.clock ?? systemClock;
    this.file = opts.file;
    this.fsync = opts.fsync ?? true;
    this.log = opts.log;
    if (this.file) {
      const state = readStateFile(this.file);
      if (state) this.restore(state);
    }
    // Drop what expired while the store was down (that is a change: it gets a revision).
    if (this.dropExpired()) {
      this.rev++;
      this.persist();
    }
    this.scheduleExpiry();
  }

  /** The revision of the last change. */
  get revision(): number {
    return this.rev;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  read(): StoreSnapshot {
    this.begin();
    const leader: LeaderLock | undefined = this.leader
      ? { holder: this.leader.holder, version: String(this.leader.version), ttlMs: this.leader.ttlMs }
      : undefined;
    const members: MemberRecord[] = [...this.members].map(([name, m]) => ({ name, data: m.data }));
    members.sort(byName);
    const docs: Partial<Record<DocKey, VersionedDoc>> = {};
    for (const [key, d] of this.docs) docs[key] = { value: d.value, version: String(d.version) };
    return { revision: this.rev, view: { ...(leader ? { leader } : {}), members, docs } };
  }

  acquireLeader(name: string, ttlMs: number): boolean {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    this.begin();
    if (this.leader) return false;
    const ttl = this.ttl(ttlMs);
    this.leader = { holder: name, version: ++this.rev, ttlMs: ttl, expiresAt: this.clock.now() + ttl };
    this.committed(true);
    return true;
  }

  renewLeader(name: string, ttlMs: number): boolean {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    this.begin();
    const l = this.leader;
    if (!l || l.holder !== name) return false;
    const ttl = this.ttl(ttlMs);
    l.expiresAt = this.clock.now() + ttl;
    const visible = l.ttlMs !== ttl;
    if (visible) {
      l.ttlMs = ttl;
      l.version = ++this.rev;
    }
    this.committed(visible);
    return true;
  }

  releaseLeader(name: string): boolean {
    checkName(name, 'leader name');
    this.begin();
    if (!this.leader || this.leader.holder !== name) return false;
    this.leader = undefined;
    this.rev++;
    this.committed(true);
    return true;
  }

  touchMember(name: string, data: MemberData, ttlMs: number): void {
    checkName(name, 'member name');
    checkTtl(ttlMs);
    if (!isPlainObject(data)) throw new TypeError('DCS member data must be a JSON object');
    const text = toJsonText(data, `member ${name}'s data`);
    this.begin();
    const ttl = this.ttl(ttlMs);
    const expiresAt = this.clock.now() + ttl;
    const m = this.members.get(name);
    if (m && m.text === text && m.ttlMs === ttl) {
      m.expiresAt = expiresAt;
      this.committed(false);
      return;
    }
    this.members.set(name, { data: frozenCopy(text) as MemberData, text, version: ++this.rev, ttlMs: ttl, expiresAt });
    this.committed(true);
  }

  deleteMember(name: string): boolean {
    checkName(name, 'member name');
    this.begin();
    if (!this.members.delete(name)) return false;
    this.rev++;
    this.committed(true);
    return true;
  }

  setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): boolean {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, true);
    const text = toJsonText(value, `document ${key}`);
    this.begin();
    const cur = this.docs.get(key);
    if (expectedVersion === null && cur) return false;
    if (typeof expectedVersion === 'string' && (!cur || parseVersion(expectedVersion) !== cur.version)) return false;
    this.docs.set(key, { value: frozenCopy(text), text, version: ++this.rev });
    this.committed(true);
    return true;
  }

  deleteDoc(key: DocKey, expectedVersion?: string): boolean {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, false);
    this.begin();
    const cur = this.docs.get(key);
    if (!cur) return false;
    if (expectedVersion !== undefined && parseVersion(expectedVersion) !== cur.version) return false;
    this.docs.delete(key);
    this.rev++;
    this.committed(true);
    return true;
  }

  /**
   * Resolve when the revision moves past `since` (default: the current revision), or after
   * timeoutMs with changed=false. A `since` ahead of the store's revision comes from a previous
   * incarnation of the store (it lost its file): that counts as a change, at once.
   */
  waitForChange(since: number | undefined, timeoutMs: number): Promise<WaitResult> {
    this.begin();
    const from = since ?? this.rev;
    if (from !== this.rev) return Promise.resolve({ changed: true, revision: this.rev });
    return new Promise((resolve) => {
      const w: Waiter = {
        since: from,
        resolve,
        timer: this.clock.setTimeout(() => {
          this.waiters.delete(w);
          resolve({ changed: false, revision: this.rev });
        }, Math.max(0, timeoutMs)),
      };
      this.waiters.add(w);
    });
  }

  /** Stop: clear timers, release waiters; every later call rejects with DcsUnavailableError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const w of this.waiters) {
      this.clock.clearTimeout(w.timer);
      w.resolve({ changed: false, revision: this.rev });
    }
    this.waiters.clear();
  }

  // ---- internals ----

  private ttl(ttlMs: number): number {
    return Math.max(this.minTtlMs, Math.ceil(ttlMs));
  }

  /** Every operation starts here: refuse when closed, and drop what is due. */
  private begin(): void {
    if (this.closed) throw new DcsUnavailableError(`embedded DCS store of cluster ${this.cluster} is closed`);
    if (this.dropExpired()) {
      this.rev++;
      this.committed(true);
    }
  }

  /** Remove expired leader/members; true when something was removed. */
  private dropExpired(): boolean {
    const now = this.clock.now();
    let dropped = false;
    if (this.leader && this.leader.expiresAt <= now) {
      this.log?.info({ holder: this.leader.holder }, 'embedded DCS: leader lock expired');
      this.leader = undefined;
      dropped = true;
    }
    for (const [name, m] of this.members) {
      if (m.expiresAt <= now) {
        this.members.delete(name);
        dropped = true;
      }
    }
    return dropped;
  }

  /** After a write: persist before acknowledging, wake waiters when visible, re-arm expiry. */
  private committed(visible: boolean): void {
    try {
      this.persist();
    } finally {
      if (visible) this.wake();
      this.scheduleExpiry();
    }
  }

  private wake(): void {
    for (const w of this.waiters) {
      if (this.rev !== w.since) {
        this.waiters.delete(w);
        this.clock.clearTimeout(w.timer);
        w.resolve({ changed: true, revision: this.rev });
      }
    }
  }

  private scheduleExpiry(): void {
    if (this.closed) return;
    let next = this.leader?.expiresAt ?? Infinity;
    for (const m of this.members.values()) next = Math.min(next, m.expiresAt);
    if (next === this.expiryTimerAt) return;
    this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryTimerAt = next;
    if (next === Infinity) return;
    this.expiryTimer = this.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryTimerAt = Infinity;
      if (this.closed) return;
      if (this.dropExpired()) {
        this.rev++;
        try {
          this.committed(true);
        } catch (err) {
          this.log?.error({ err }, 'embedded DCS: cannot persist an expiry');
        }
      } else {
        this.scheduleExpiry();
      }
    }, next - this.clock.now());
  }

  private persist(): void {
    if (!this.file) return;
    const state: PersistedState = {
      format: FILE_FORMAT,
      cluster: this.cluster,
      revision: this.rev,
      members: [...this.members].map(([name, m]) => ({ name, data: m.data, version: m.version, ttlMs: m.ttlMs, expiresAt: m.expiresAt })),
      docs: Object.fromEntries([...this.docs].map(([k, d]) => [k, { value: d.value, version: d.version }])),
    };
    if (this.leader) state.leader = { ...this.leader };
    try {
      writeStateFile(this.file, state, this.fsync);
    } catch (err) {
      // The change is in memory but not on disk: report the outcome as unknown, like a timeout.
      this.log?.error({ err, file: this.file }, 'embedded DCS: cannot write its file');
      throw new DcsUnavailableError(`embedded DCS cannot write ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private restore(state: PersistedState): void {
    if (state.cluster !== this.cluster) {
      throw new Error(`the embedded DCS file ${this.file} belongs to cluster "${state.cluster}", not "${this.cluster}"`);
    }
    this.rev = state.revision;
    if (state.leader) this.leader = { ...state.leader };
    for (const m of state.members) {
      const text = JSON.stringify(m.data);
      this.members.set(m.name, { data: frozenCopy(text) as MemberData, text, version: m.version, ttlMs: m.ttlMs, expiresAt: m.expiresAt });
    }
    for (const [key, d] of Object.entries(state.docs) as [DocKey, { value: unknown; version: number }][]) {
      const text = JSON.stringify(d.value);
      this.docs.set(key, { value: frozenCopy(text), text, version: d.version });
    }
  }
}

/**
 * The store as a Dcs, in the process that hosts it (no HTTP). Also what the unit contract suite
 * runs against with a ManualClock. A closed store rejects with DcsUnavailableError, like an
 * unreachable one; waitForChange then waits out its timeout on the store's clock.
 */
export class EmbeddedDcsLocal implements Dcs {
  readonly description: string;
  readonly minTtlMs: number;
  private seen: number | undefined;
  private closed = false;
  private readonly pendingWaits = new Set<() => void>();

  constructor(private readonly store: EmbeddedDcsStore) {
    this.description = `embedded DCS (in-process) of cluster ${store.cluster}`;
    this.minTtlMs = store.minTtlMs;
  }

  private run<T>(fn: () => T): T {
    if (this.closed) throw new DcsUnavailableError('embedded DCS client is closed');
    const out = fn();
    this.seen = this.store.revision;
    return out;
  }

  async read(): Promise<ClusterView> {
    return this.run(() => this.store.read().view);
  }
  async acquireLeader(name: string, ttlMs: number): Promise<boolean> {
    return this.run(() => this.store.acquireLeader(name, ttlMs));
  }
  async renewLeader(name: string, ttlMs: number): Promise<boolean> {
    return this.run(() => this.store.renewLeader(name, ttlMs));
  }
  async releaseLeader(name: string): Promise<boolean> {
    return this.run(() => this.store.releaseLeader(name));
  }
  async touchMember(name: string, data: MemberData, ttlMs: number): Promise<void> {
    this.run(() => this.store.touchMember(name, data, ttlMs));
  }
  async deleteMember(name: string): Promise<void> {
    this.run(() => this.store.deleteMember(name));
  }
  async setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): Promise<boolean> {
    return this.run(() => this.store.setDoc(key, value, expectedVersion));
  }
  async deleteDoc(key: DocKey, expectedVersion?: string): Promise<boolean> {
    return this.run(() => this.store.deleteDoc(key, expectedVersion));
  }

  async waitForChange(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    if (this.store.isClosed) {
      await this.waitOut(timeoutMs);
      return;
    }
    const waiting = this.store.waitForChange(this.seen, timeoutMs);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.pendingWaits.delete(done);
        resolve();
      };
      this.pendingWaits.add(done);
      void waiting.then((r) => {
        if (!this.closed) this.seen = r.revision;
        done();
      });
    });
  }

  private waitOut(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.pendingWaits.delete(done);
        this.store.clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.store.clock.setTimeout(done, timeoutMs);
      this.pendingWaits.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const done of [...this.pendingWaits]) done();
  }
}
