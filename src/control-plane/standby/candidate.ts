/**
 * The imperative shell of the VIP election on one lb: every heartbeat it asks every voter, feeds
 * each answer to decide() as it arrives (a takeover does not wait for the slowest voter), and
 * carries out transitions one at a time. A timer fires exactly when the lease would run out, so
 * a holder cut off from its voters lets go of the VIP before any voter's grant can expire.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { decide, initialMemory, mergeCandidates, readyPeer, wantOf, type StandbyFacts, type StandbyMemory, type StandbyPolicy, type StandbyTransition } from './decide.js';
import { LeaseLedger, majorityOf } from './lease.js';
import type { HookPort, VipPort, VoterPort } from './ports.js';
import type { VoteReply, VoteRequest } from './types.js';

export interface CandidateOptions {
  readonly policy: StandbyPolicy;
  readonly heartbeatMs: number;
  readonly announceIntervalMs: number;
  readonly voters: readonly string[];
  readonly voterPort: VoterPort;
  readonly vip: VipPort;
  readonly hooks: HookPort;
  readonly health: () => { healthy: boolean; detail: string };
  readonly clock: Clock;
  readonly log: Logger;
  /** Called after every transition (metrics). */
  readonly onTransition?: (mem: StandbyMemory, tookOverMs: number | undefined) => void;
}

export interface CandidateStatus {
  state: StandbyMemory['state'];
  since: number;
  reason: string;
  /** Who the voters say holds the VIP (this lb when active). */
  holder: string | null;
  votes: number;
  voters: number;
  majority: number;
  leaseValidForMs: number;
  takeovers: number;
  lastTakeoverMs: number | null;
  vip: string;
}

export class StandbyCandidate {
  private mem: StandbyMemory;
  private readonly ledger: LeaseLedger;
  private readonly replies = new Map<string, { reply: VoteReply; at: number }>();
  private timer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private announceTimer: TimerHandle | undefined;
  private readonly expiryAsks = new Map<string, TimerHandle>();
  private chain: Promise<void> = Promise.resolve();
  private running = false;
  private handOver: string | undefined;
  /** When another holder last renewed its lease, as the voters report it: where a takeover's gap starts. */
  private otherRenewedAt = -Infinity;
  private takeovers = 0;
  private lastTakeoverMs: number | null = null;

  constructor(private readonly o: CandidateOptions) {
    this.mem = initialMemory(o.clock.now());
    const lease = o.policy.leaseMs;
    // The believed lease ends this much before the voters' grants do: clock drift and a late
    // release timer both have to fit in it.
    this.ledger = new LeaseLedger(majorityOf(o.voters.length), lease, Math.max(50, Math.round(lease / 6)));
  }

  start(): void {
    this.running = true;
    this.round();
  }

  /** Stop asking; give the VIP and the lease up at once if held. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of [this.timer, this.expiryTimer, this.announceTimer, ...this.expiryAsks.values()]) this.o.clock.clearTimeout(t);
    const wasActive = this.mem.state === 'active';
    await this.chain;
    if (this.mem.state === 'active' || wasActive) {
      await this.o.vip.release().catch(() => {});
      this.sendAll('release');
    }
  }

  status(): CandidateStatus {
    const now = this.o.clock.now();
    const until = this.ledger.validUntil();
    // Holders by grants, most first (as the voters answered).
    const holders = Object.entries(this.grantsByHolder(now)).sort((a, b) => b[1] - a[1]);
    const holder = this.mem.state === 'active' ? this.o.policy.name : holders[0]?.[0] ?? null;
    // A passive says what is true now once another lb holds a majority, then why it last changed state.
    const other = holders.find(([n, c]) => n !== this.o.policy.name && c >= this.ledger.majority)?.[0];
    const standingBy = this.mem.state === 'passive' && other !== undefined;
    return {
      state: this.mem.state, since: this.mem.since,
      reason: !standingBy ? this.mem.reason : `standing by: ${other} holds the VIP${this.mem.reason === 'starting' ? '' : `; last change: ${this.mem.reason}`}`,
      holder,
      votes: this.ledger.votes(now), voters: this.o.voters.length, majority: this.ledger.majority,
      leaseValidForMs: this.mem.state === 'active' ? Math.max(0, until - now) : 0,
      takeovers: this.takeovers, lastTakeoverMs: this.lastTakeoverMs, vip: this.o.vip.describe(),
    };
  }

  /**
   * Planned hand-over (switchover): step down once another healthy lb is asking for the lease.
   * Resolves when this lb is passive; rejects with the reason when it cannot.
   */
  async stepDown(reason: string): Promise<string> {
    if (this.mem.state !== 'active') throw new Error(`${this.o.policy.name} does not hold the VIP (it is ${this.mem.state})`);
    const peer = readyPeer(this.others(this.o.clock.now()));
    if (!peer) throw new Error('no other lb is healthy and ready to take the VIP');
    this.handOver = reason;
    this.evaluate();
    await this.chain;
    this.handOver = undefined;
    if (this.mem.state === 'active') throw new Error(`still active: ${this.mem.reason}`);
    return peer.name;
  }

  private round(): void {
    if (!this.running) return;
    this.sendAll(wantOf(this.mem, this.o.clock.now()));
    this.timer = this.o.clock.setTimeout(() => this.round(), this.o.heartbeatMs);
  }

  private sendAll(want: VoteRequest['want']): void {
    for (const voter of this.o.voters) this.askOne(voter, want);
  }

  private askOne(voter: string, want: VoteRequest['want']): void {
    const sentAt = this.o.clock.now();
    const req: VoteRequest = {
      candidate: this.o.policy.name, priority: this.o.policy.priority, healthy: this.o.health().healthy, want, leaseMs: this.o.policy.leaseMs,
      ...(this.mem.state === 'active' && { active: true }),
    };
    this.o.voterPort.ask(voter, req, this.o.heartbeatMs * 2).then(
      (reply) => this.onReply(voter, reply, sentAt, want),
      () => {}, // unreachable: its last grant runs out by itself
    );
  }

  /**
   * A voter said another lb's grant ends in N ms: ask that voter again right then rather than at
   * the next heartbeat, so a takeover after a crash costs the lease and a round trip, no more.
   */
  private askAtExpiry(voter: string, reply: VoteReply): void {
    this.o.clock.clearTimeout(this.expiryAsks.get(voter));
    if (reply.holder === null || reply.holder === this.o.policy.name || !this.running) return;
    this.expiryAsks.set(voter, this.o.clock.setTimeout(() => {
      this.expiryAsks.delete(voter);
      if (this.running && wantOf(this.mem, this.o.clock.now()) === 'acquire') this.askOne(voter, 'acquire');
    }, reply.holderExpiresInMs + 1));
  }

  private onReply(voter: string, reply: VoteReply, sentAt: number, want: VoteRequest['want']): void {
    const now = this.o.clock.now();
    if (reply.granted && want === 'acquire') this.ledger.granted(voter, sentAt);
    else this.ledger.refused(voter);
    if (reply.holder !== null && reply.holder !== this.o.policy.name) {
      this.otherRenewedAt = Math.max(this.otherRenewedAt, now - Math.max(0, this.o.policy.leaseMs - reply.holderExpiresInMs));
    }
    this.replies.set(voter, { reply, at: now });
    this.askAtExpiry(voter, reply);
    if (this.running) this.evaluate();
  }

  private others(now: number): ReturnType<typeof mergeCandidates> {
    const fresh = [...this.replies.values()].filter((r) => now - r.at <= 2 * this.o.heartbeatMs);
    return mergeCandidates(fresh.map((r) => r.reply.candidates), this.o.policy.name);
  }


  private facts(): StandbyFacts {
    const now = this.o.clock.now();
    const h = this.o.health();
    const votes = this.ledger.votes(now);
    const grants = this.grantsByHolder(now);
    const split = votes > 0 && this.ledger.validUntil() <= now && Object.keys(grants).some((n) => n !== this.o.policy.name);
    this.splitSince = split ? (this.splitSince ?? now) : undefined;
    return {
      now, leaseUntil: this.ledger.validUntil(), votes, voters: this.o.voters.length,
      majority: this.ledger.majority, healthy: h.healthy, healthDetail: h.detail, others: this.others(now),
      ...(this.handOver !== undefined && { handOver: this.handOver }),
      ...(this.splitSince !== undefined && { split: { forMs: now - this.splitSince, grants } }),
    };
  }

  /** When the current split vote began (see decide). */
  private splitSince: number | undefined;

  /** Grants per holder, as the voters that answered lately said (unexpired ones only). */
  private grantsByHolder(now: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { reply, at } of this.replies.values()) {
      if (reply.holder === null || now - at > reply.holderExpiresInMs) continue;
      counts[reply.holder] = (counts[reply.holder] ?? 0) + 1;
    }
    return counts;
  }

  private evaluate(): void {
    const f = this.facts();
    const t = decide(this.mem, f, this.o.policy);
    if (t) this.transition(t, f.now);
    this.armExpiry();
  }

  /** While active, wake up exactly when the lease would run out. */
  private armExpiry(): void {
    this.o.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.mem.state !== 'active' || !this.running) return;
    const ms = this.ledger.validUntil() - this.o.clock.now();
    this.expiryTimer = this.o.clock.setTimeout(() => this.evaluate(), Math.max(0, ms));
  }

  /** The state changes now (so later evaluations see it); the VIP work runs in order behind it. */
  private transition(t: StandbyTransition, now: number): void {
    const from = this.mem.state;
    this.mem = {
      state: t.to, since: now, reason: t.reason,
      activeSince: t.to === 'active' ? now : this.mem.activeSince,
      holdUntil: t.holdMs > 0 ? now + t.holdMs : this.mem.holdUntil,
    };
    if (t.releaseLease) {
      this.ledger.clear();
      this.sendAll('release');
    }
    const vip = this.o.vip.describe();
    this.chain = this.chain.then(async () => {
      if (t.to === 'active') {
        try {
          await this.o.vip.acquire();
        } catch (err) {
          this.fault(`cannot serve the VIP ${vip}: ${(err as Error).message}`);
          return;
        }
        const tookOverMs = Number.isFinite(this.otherRenewedAt) ? this.o.clock.now() - this.otherRenewedAt : undefined;
        this.takeovers++;
        if (tookOverMs !== undefined) this.lastTakeoverMs = tookOverMs;
        this.o.log.warn({ standby: 'active', from, reason: t.reason, tookOverMs }, `VIP ${vip}: ACTIVE, ${t.reason}`);
        this.o.hooks.run('active', t.reason);
        this.startAnnouncing();
        this.o.onTransition?.(this.mem, tookOverMs);
      } else {
        if (from === 'active') await this.o.vip.release().catch((err: Error) => this.o.log.error({ err: err.message }, `VIP ${vip}: release failed: ${err.message}`));
        this.o.clock.clearTimeout(this.announceTimer);
        this.o.log.warn({ standby: t.to, from, reason: t.reason }, `VIP ${vip}: ${t.to.toUpperCase()}, ${t.reason}`);
        if (from === 'active') this.o.hooks.run('passive', t.reason);
        this.o.onTransition?.(this.mem, undefined);
      }
    });
  }

  private fault(reason: string): void {
    const now = this.o.clock.now();
    this.mem = { state: 'fault', since: now, reason, activeSince: this.mem.activeSince, holdUntil: now + 2 * this.o.policy.leaseMs };
    this.ledger.clear();
    this.sendAll('release');
    this.o.log.error({ standby: 'fault', reason }, `VIP ${this.o.vip.describe()}: FAULT, ${reason}`);
    this.o.hooks.run('fault', reason);
    this.o.onTransition?.(this.mem, undefined);
    // Whatever part of the VIP did come up must go.
    this.chain = this.chain.then(() => this.o.vip.release().catch(() => {}));
  }

  private startAnnouncing(): void {
    const tick = (): void => {
      if (this.mem.state !== 'active' || !this.running) return;
      this.o.vip.announce().catch((err: Error) => this.o.log.warn({ err: err.message }, `VIP announce failed: ${err.message}`));
      this.announceTimer = this.o.clock.setTimeout(tick, this.o.announceIntervalMs);
    };
    this.o.clock.clearTimeout(this.announceTimer);
    this.announceTimer = this.o.clock.setTimeout(tick, this.o.announceIntervalMs);
  }
}
