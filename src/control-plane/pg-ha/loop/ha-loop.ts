/**
 * The imperative shell around decide(): every `loop` interval (or sooner when the DCS changes
 * while we wait for a free lock) it observes PostgreSQL, reads the DCS, asks peers when the
 * decision needs them, decides, executes the actions in order (stopping at the first failure),
 * publishes this member's state and logs the cycle's one sentence when it changes.
 *
 * A fencing watchdog runs beside the cycles: if the lock was not renewed by its deadline the
 * primary is fenced even if a cycle is stuck in a slow DCS call (invariant 2).
 */
import type { Clock, TimerHandle } from '../../../core/clock.js';
import type { Logger } from '../../../core/log.js';
import { decide } from '../core/decide.js';
import { memberOf } from '../core/view.js';
import type { HaAction, HaConfig, HaDecision, HaSnapshot, MemberInfo, PeerObservation, PgObservation } from '../core/types.js';
import { DcsUnavailableError, type ClusterView, type Dcs } from '../dcs/types.js';
import type { MemberAddress, PeerPort, PgPort } from './ports.js';

export interface HaLoopOptions {
  readonly name: string;
  readonly nofailover: boolean;
  readonly config: HaConfig;
  readonly dcs: Dcs;
  readonly pg: PgPort;
  readonly peers: PeerPort;
  readonly clock: Clock;
  readonly log: Logger;
  /** Every member of the cluster file, with its addresses. */
  readonly members: readonly MemberAddress[];
  /** Called after every cycle (status, metrics). */
  readonly onCycle?: (state: HaState) => void;
}

export interface HaState {
  readonly decision: HaDecision | undefined;
  readonly pg: PgObservation | undefined;
  readonly view: ClusterView | undefined;
  readonly dcsError: string | undefined;
  readonly lockRenewedAt: number | undefined;
  readonly lastCycleAt: number;
  readonly fencedAt: number | undefined;
  readonly fenceReason: string | undefined;
  /** When every member last confirmed us as primary while the DCS was unreachable. */
  readonly failsafeConfirmedAt: number | undefined;
  /**
   * This member's last promotion, and whether it was planned (a switchover document named the
   * hand-over when it promoted). Observers cannot tell a switchover from a failover afterwards:
   * the document is gone within a second, and an old primary whose PostgreSQL crashed still
   * answers through its agent.
   */
  readonly promotion: { readonly at: number; readonly planned: boolean; readonly from: string | undefined } | undefined;
}

export class HaLoop {
  private readonly o: HaLoopOptions;
  /** The lock's last renewal while the DCS says it is ours (decisions use it). */
  private renewedAt: number | undefined;
  /** The lock's last renewal, kept when a read shows the lock lost (the watchdog uses it). */
  private lastRenewalAt = -Infinity;
  private lastLeaderPosition: number | undefined;
  private failsafeHeartbeat: { from: string; at: number } | undefined;
  /** When every member last acknowledged our failsafe heartbeat (DCS down). */
  private failsafeOkAt = -Infinity;
  private lastSummary = '';
  private timer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private running = false;
  private cycling: Promise<unknown> | undefined;
  private state: HaState = {
    decision: undefined, pg: undefined, view: undefined, dcsError: undefined, lockRenewedAt: undefined, lastCycleAt: 0,
    fencedAt: undefined, fenceReason: undefined, failsafeConfirmedAt: undefined, promotion: undefined,
  };

  constructor(opts: HaLoopOptions) {
    this.o = opts;
    this.members = opts.members;
  }

  /** The cluster file's members, as last reloaded: candidacy, failsafe peers and the sync set follow them from the next cycle. */
  private members: readonly MemberAddress[];

  setMembers(members: readonly MemberAddress[]): void {
    this.members = members;
  }

  get current(): HaState {
    return this.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.clock.clearTimeout(this.timer);
    this.o.clock.clearTimeout(this.watchdog);
    await this.cycling?.catch(() => {});
  }

  /** A failsafe heartbeat from the primary arrived (agent API → here). */
  noteFailsafeHeartbeat(from: string): void {
    this.failsafeHeartbeat = { from, at: this.o.clock.now() };
  }

  /** Give up the lock on shutdown so a replica takes over at once instead of after the TTL. */
  async releaseIfLeader(): Promise<boolean> {
    if (this.renewedAt === undefined) return false;
    this.renewedAt = undefined;
    return this.o.dcs.releaseLeader(this.o.name).catch(() => false);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.o.clock.clearTimeout(this.timer);
    this.timer = this.o.clock.setTimeout(() => {
      this.cycling = this.runCycle().finally(() => {
        this.cycling = undefined;
      });
    }, ms);
  }

  private async runCycle(): Promise<void> {
    const started = this.o.clock.now();
    let waitForLock = false;
    try {
      const d = await this.cycle();
      // A replica waiting for a free lock (or for a primary) re-runs as soon as the DCS changes.
      waitForLock = d.role === 'replica' || d.role === 'waiting';
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, `HA cycle failed: ${(err as Error).message}`);
    }
    if (!this.running) return;
    const rest = Math.max(0, this.o.config.loopMs - (this.o.clock.now() - started));
    if (waitForLock && rest > 0) {
      // Wake early on any DCS change (a released or expired lock); waitForChange never rejects
      // and returns after `rest` at the latest.
      await this.o.dcs.waitForChange(rest);
      this.schedule(0);
    } else {
      this.schedule(rest);
    }
  }

  /** One cycle; returns the decision (also exposed for tests). */
  async cycle(): Promise<HaDecision> {
    const { clock, dcs, name } = this.o;
    const pg = await this.o.pg.observe();
    let view: ClusterView | undefined;
    let dcsError: string | undefined;
    try {
      view = await dcs.read();
    } catch (err) {
      dcsError = (err as Error).message;
    }
    if (view?.leader && view.leader.holder !== name) {
      const leaderInfo = memberOf(view, view.leader.holder);
      if (leaderInfo?.walPosition !== undefined) this.lastLeaderPosition = leaderInfo.walPosition;
    }
    if (view?.leader?.holder !== name && view !== undefined && this.renewedAt !== undefined) {
      // The DCS says the lock is not ours (expired or taken): forget our renewal time.
      this.renewedAt = undefined;
    }
    const peers = await this.observePeers(pg, view, dcsError !== undefined);
    const snapshot: HaSnapshot = {
      now: clock.now(),
      config: this.o.config,
      self: { name, nofailover: this.o.nofailover },
      pg,
      dcs: view ? { ok: true, view } : { ok: false, error: dcsError ?? 'unknown error' },
      lock: this.renewedAt === undefined ? {} : { renewedAt: this.renewedAt },
      clusterMembers: this.members.map((m) => m.name),
      peers,
      ...(this.failsafeHeartbeat ? { failsafeHeartbeat: this.failsafeHeartbeat } : {}),
      ...(this.lastLeaderPosition !== undefined ? { lastLeaderPosition: this.lastLeaderPosition } : {}),
    };
    const d = decide(snapshot);
    if (d.summary !== this.lastSummary) {
      this.o.log.info({ role: d.role, actions: d.actions.map((a) => a.type) }, d.summary);
      this.lastSummary = d.summary;
    }
    await this.execute(d.actions, view);
    // One look after the actions: what we publish and what status shows.
    const after = await this.o.pg.observe().catch(() => pg);
    if (view !== undefined) await this.publish(after);
    this.state = {
      ...this.state, decision: d, pg: after, view, dcsError,
      lockRenewedAt: this.renewedAt, lastCycleAt: clock.now(),
    };
    this.o.onCycle?.(this.state);
    return d;
  }

  /** Peers are asked only when the decision needs live facts: an election, or failsafe. */
  private async observePeers(pg: PgObservation, view: ClusterView | undefined, dcsDown: boolean): Promise<Record<string, PeerObservation>> {
    const others = this.members.filter((m) => m.name !== this.o.name);
    const isPrimary = pg.state === 'running' && pg.role === 'primary';
    if (dcsDown && isPrimary) return this.askFailsafe();
    if (view && !view.leader && pg.state === 'running' && pg.role === 'replica') {
      const obs = await Promise.all(others.map((m) => this.o.peers.observe(m).catch((): PeerObservation => ({ reachable: false }))));
      return Object.fromEntries(others.map((m, i) => [m.name, obs[i]!]));
    }
    return {};
  }

  /**
   * Failsafe heartbeats to every other member; when all of them acknowledge, the lock's deadline
   * moves on by a TTL (pastDeadline). Patroni's failsafe mode: a primary that every member still
   * follows keeps taking writes while the store cannot answer.
   */
  private async askFailsafe(): Promise<Record<string, PeerObservation>> {
    // Only for a lock this process renewed, with failsafe on.
    if (!this.o.config.failsafe || this.renewedAt === undefined) return {};
    const others = this.members.filter((m) => m.name !== this.o.name);
    // Timed from the send, as a lock renewal is: a member holds off its election for a TTL from
    // when the heartbeat reached it, which is after this.
    const sent = this.o.clock.now();
    const acks = await Promise.all(others.map((m) => this.o.peers.failsafeHeartbeat(m, this.o.name).catch(() => false)));
    if (acks.every(Boolean)) {
      this.failsafeOkAt = sent;
      this.state = { ...this.state, failsafeConfirmedAt: this.failsafeOkAt };
    }
    return Object.fromEntries(others.map((m, i) => [m.name, { reachable: acks[i]!, failsafeAck: acks[i]! }]));
  }

  private addressOf(name: string, view: ClusterView | undefined): MemberAddress {
    const known = this.members.find((m) => m.name === name);
    if (known) return known;
    const info = view && memberOf(view, name);
    throw new Error(`member ${name} is not in the cluster file${info?.api ? ` (it says its API is ${info.api})` : ''}`);
  }

  private async execute(actions: readonly HaAction[], view: ClusterView | undefined): Promise<void> {
    const { dcs, pg, clock, name, config } = this.o;
    for (const a of actions) {
      let ok = true;
      switch (a.type) {
        case 'initialize': {
          const won = await dcs.setDoc('initialize', { by: name, at: new Date(clock.now()).toISOString() }, null);
          if (!won) {
            this.o.log.info('another member initialised the cluster first');
            return;
          }
          await pg.initialize();
          const sent = clock.now();
          ok = await dcs.acquireLeader(name, config.ttlMs);
          if (ok) this.lockRenewed(sent);
          break;
        }
        case 'acquire-lock': {
          const sent = clock.now();
          ok = await dcs.acquireLeader(name, config.ttlMs).catch(async (err: unknown) => {
            if (!(err instanceof DcsUnavailableError)) throw err;
            // A primary whose lock expired (failsafe kept it) may not outlive its deadline
            // because the store will not answer it taking the lock back.
            if (this.pastDeadline()) await this.fence('leader lock lost and not taken back before its deadline', { onlyWritable: true });
            return false;
          });
          if (ok) {
            this.lockRenewed(sent);
            this.o.log.info('acquired the leader lock');
          }
          break;
        }
        case 'renew-lock': {
          const sent = clock.now();
          const renewed = await dcs.renewLeader(name, config.ttlMs).catch((err: unknown) => (err instanceof DcsUnavailableError ? 'unanswered' as const : false));
          if (renewed === true) this.lockRenewed(sent);
          else if (renewed === 'unanswered') {
            // The store did not answer (etcd electing a leader, a member gone): the lock stays ours
            // until the deadline of the last renewal (failsafe may extend it), as the watchdog
            // enforces. Fencing at once would turn a blip of the store into a write outage. A read
            // that answered and a renewal that did not (etcd's leader died between the two) is
            // the store being down as much as a read that failed: failsafe applies the same.
            ok = false;
            await this.askFailsafe();
            if (this.pastDeadline()) await this.fence('leader lock not renewed before its deadline');
          } else {
            this.renewedAt = undefined;
            ok = false;
            const obs = await pg.observe();
            if (obs.state === 'running' && obs.role === 'primary') await this.fence('could not renew the leader lock');
          }
          break;
        }
        case 'release-lock':
          this.renewedAt = undefined;
          this.o.clock.clearTimeout(this.watchdog);
          ok = await dcs.releaseLeader(name);
          break;
        case 'promote':
          await pg.promote();
          this.state = { ...this.state, promotion: { at: this.o.clock.now(), planned: a.handOverFrom !== undefined, from: a.handOverFrom } };
          break;
        case 'fence':
          await this.fence(a.reason);
          break;
        case 'demote':
          this.o.log.info({ reason: a.reason }, `demoting: ${a.reason}`);
          await pg.demote(a.reason);
          this.state = { ...this.state, fencedAt: this.o.clock.now(), fenceReason: a.reason };
          break;
        case 'set-failover':
          ok = await dcs.setDoc('failover', a.doc, view?.docs.failover?.version ?? null);
          break;
        case 'start':
          await pg.start(a.as, a.leader ? this.addressOf(a.leader, view) : undefined);
          break;
        case 'clone':
          await pg.clone(this.addressOf(a.from, view));
          break;
        case 'follow':
          await pg.follow(this.addressOf(a.leader, view));
          break;
        case 'rejoin':
          await pg.rejoin(this.addressOf(a.leader, view), a.fresh ? { fresh: true } : undefined);
          break;
        case 'failsafe-heartbeat':
          break; // sent while observing peers
        case 'set-sync-dcs':
          ok = await dcs.setDoc('sync', a.doc, view?.docs.sync?.version ?? null);
          break;
        case 'set-sync-pg':
          await pg.setSyncNames(a.names);
          break;
        case 'clear-failover':
          if (view?.docs.failover) await dcs.deleteDoc('failover', view.docs.failover.version);
          break;
      }
      if (!ok) {
        this.o.log.warn({ action: a.type }, `${a.type} did not succeed; the rest of this cycle is skipped`);
        return;
      }
    }
  }

  private lockRenewed(sentAt: number): void {
    this.renewedAt = sentAt;
    this.lastRenewalAt = sentAt;
    this.state = { ...this.state, fencedAt: undefined, fenceReason: undefined };
    this.armWatchdog();
  }

  /**
   * Fence a writable primary at its last renewal + TTL − margin (or its last failsafe
   * confirmation's) unless a renewal moved the deadline. A read showing the lock lost does not lift
   * it: the cycle that would fence may be the one stuck on the store (taking the free lock again).
   */
  private armWatchdog(): void {
    const { clock } = this.o;
    clock.clearTimeout(this.watchdog);
    this.watchdog = clock.setTimeout(() => {
      if (!this.running) return;
      if (!this.pastDeadline()) {
        this.armWatchdog(); // renewed, or every member confirmed us: the deadline moved
        return;
      }
      // Once a read showed the lock lost, only a writable primary is ours to stop (a replica that
      // follows the new primary must go on).
      void this.fence('leader lock not renewed before its deadline (watchdog)', { onlyWritable: this.renewedAt === undefined });
    }, Math.max(0, this.deadline() - clock.now()));
  }

  /** The last renewal's (or every member's failsafe confirmation's) TTL − margin. */
  private deadline(): number {
    const { config } = this.o;
    const heldSince = Math.max(this.lastRenewalAt, config.failsafe ? this.failsafeOkAt : -Infinity);
    return heldSince + config.ttlMs - config.fenceMarginMs;
  }

  private pastDeadline(): boolean {
    return this.o.clock.now() >= this.deadline();
  }

  private async fence(reason: string, o: { onlyWritable?: boolean } = {}): Promise<void> {
    const obs = await this.o.pg.observe().catch(() => undefined);
    if (obs && obs.state !== 'running') return;
    if (o.onlyWritable && obs?.role !== 'primary') return;
    this.o.log.warn({ reason }, `fencing: ${reason}`);
    await this.o.pg.fence(reason);
    this.state = { ...this.state, fencedAt: this.o.clock.now(), fenceReason: reason };
  }

  private async publish(obs: PgObservation): Promise<void> {
    const me = this.members.find((m) => m.name === this.o.name);
    const info: MemberInfo = {
      role: obs?.state === 'running' ? (obs.role ?? 'replica') : obs?.state === 'absent' ? 'absent' : 'stopped',
      ...(obs?.timeline !== undefined && { timeline: obs.timeline }),
      ...(obs?.walPosition !== undefined && { walPosition: obs.walPosition }),
      ...(this.o.nofailover && { nofailover: true }),
      ...(me && { api: me.api }),
      ...(obs?.streamingFrom && { following: obs.streamingFrom }),
      ...(obs?.role === 'primary' && obs.history && { history: obs.history }),
    };
    await this.o.dcs.touchMember(this.o.name, info as unknown as Record<string, unknown>, this.o.config.ttlMs).catch(() => {});
  }
}
