/**
 * One voter's side of the VIP election: at most one grant at a time, each lasting leaseMs from
 * when the request arrived. Pure apart from the injected clock.
 *
 * Rules (docs/standby.md proves what they guarantee):
 * - a grant held by someone else and not expired: refuse;
 * - the holder asking again: renew;
 * - no valid grant: grant only to the best candidate heard from within freshMs (healthy first,
 *   then the one that says it holds the lease, then priority, then name), so that two candidates
 *   racing for a free lease do not split the votes (every voter hears the same candidates and
 *   picks the same one), and a voter that restarts while an lb is active grants the active, not
 *   the passive (else voters restarting one by one drain the active's majority, and the VIP
 *   moves for nothing);
 * - for leaseMs after the voter starts it grants nothing: it may have granted a lease before a
 *   restart that it no longer remembers, and that lease may still be running.
 */
import type { Clock } from '../../core/clock.js';
import type { CandidateSeen, VoteReply, VoteRequest } from './types.js';
import { outranks } from './decide.js';

interface Seen {
  priority: number;
  healthy: boolean;
  asking: boolean;
  active: boolean;
  firstSeen: number;
  healthySince: number;
  lastSeen: number;
}

export interface VoteBookOptions {
  readonly voter: string;
  /** The longest lease any candidate asks for: how long a restarted voter must stay silent. */
  readonly leaseMs: number;
  /** A candidate not heard from for this long is not a contender (a couple of heartbeats). */
  readonly freshMs: number;
}

export class VoteBook {
  private grant: { holder: string; expiresAt: number } | undefined;
  private readonly seen = new Map<string, Seen>();
  private readonly startedAt: number;

  constructor(private readonly opts: VoteBookOptions, private readonly clock: Clock) {
    this.startedAt = clock.now();
  }

  handle(req: VoteRequest): VoteReply {
    const now = this.clock.now();
    this.remember(req, now);
    if (this.grant && this.grant.expiresAt <= now) this.grant = undefined;
    const g = this.grant;
    if (req.want === 'release') {
      if (g?.holder === req.candidate) this.grant = undefined;
      return this.reply(false, now, 'released');
    }
    if (g && g.holder !== req.candidate) return this.reply(false, now, `${g.holder} holds the lease`);
    // A longer lease than ours could outlive our restart silence: refuse (configs out of step).
    if (req.leaseMs > this.opts.leaseMs) return this.reply(false, now, `asks a ${req.leaseMs}ms lease, longer than this voter's ${this.opts.leaseMs}ms`);
    // Observing never renews: a candidate that stands back lets its grant run out.
    if (req.want !== 'acquire') return this.reply(false, now, 'standing back');
    if (g) {
      g.expiresAt = now + req.leaseMs;
      return this.reply(true, now);
    }
    if (now - this.startedAt < this.opts.leaseMs) return this.reply(false, now, 'voter just started: a lease it granted before may still run');
    const best = this.best(now);
    if (best !== req.candidate) return this.reply(false, now, `prefers ${best}`);
    this.grant = { holder: req.candidate, expiresAt: now + req.leaseMs };
    return this.reply(true, now);
  }

  /** The current grant, for status and tests. */
  holder(): { holder: string; expiresInMs: number } | undefined {
    const now = this.clock.now();
    return this.grant && this.grant.expiresAt > now ? { holder: this.grant.holder, expiresInMs: this.grant.expiresAt - now } : undefined;
  }

  private remember(req: VoteRequest, now: number): void {
    const prev = this.seen.get(req.candidate);
    const continuous = prev !== undefined && now - prev.lastSeen <= this.opts.freshMs;
    const asking = req.want === 'acquire';
    this.seen.set(req.candidate, {
      priority: req.priority,
      healthy: req.healthy,
      asking,
      active: req.active === true,
      firstSeen: continuous && prev.asking === asking ? prev.firstSeen : now,
      healthySince: continuous && prev.healthy ? prev.healthySince : now,
      lastSeen: now,
    });
  }

  /** The candidate a free lease goes to: among those asking and fresh, healthy > active > priority > name. */
  private best(now: number): string | undefined {
    let best: [string, Seen] | undefined;
    for (const entry of this.seen) {
      const s = entry[1];
      if (!s.asking || now - s.lastSeen > this.opts.freshMs) continue;
      if (!best || better(entry, best)) best = entry;
    }
    return best?.[0];
  }

  private reply(granted: boolean, now: number, note?: string): VoteReply {
    const candidates: CandidateSeen[] = [];
    for (const [name, s] of this.seen) {
      if (now - s.lastSeen > this.opts.freshMs) continue;
      candidates.push({
        name, priority: s.priority, healthy: s.healthy, asking: s.asking, ...(s.active && { active: true as const }),
        seenForMs: now - s.firstSeen, healthyForMs: s.healthy ? now - s.healthySince : 0,
      });
    }
    const g = this.grant;
    return {
      voter: this.opts.voter, granted, holder: g?.holder ?? null, holderExpiresInMs: g ? g.expiresAt - now : 0, candidates,
      ...(!granted && note !== undefined && { note }),
    };
  }
}

function better([an, a]: [string, Seen], [bn, b]: [string, Seen]): boolean {
  return outranks({ name: an, ...a }, { name: bn, ...b });
}
