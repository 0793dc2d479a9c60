/**
 * The candidate's decisions, pure: given what this lb knows now (its lease, its health, the other
 * candidates as the voters see them), should it change state? The loop (candidate.ts) gathers the
 * facts and carries out the transition. Every transition carries one sentence saying why.
 */
import type { CandidateSeen, CandidateState, Want } from './types.js';

export interface StandbyPolicy {
  readonly name: string;
  readonly priority: number;
  readonly leaseMs: number;
  readonly preempt: boolean;
  readonly preemptDelayMs: number;
  readonly minHoldMs: number;
}

export interface StandbyMemory {
  readonly state: CandidateState;
  readonly since: number;
  readonly reason: string;
  /** When this lb last became active. */
  readonly activeSince: number;
  /** Until then it stands back (observes) instead of asking: after stepping down or a fault. */
  readonly holdUntil: number;
}

export interface StandbyFacts {
  readonly now: number;
  /** Until when a majority of voters grant this lb the lease (−∞: no majority). */
  readonly leaseUntil: number;
  readonly votes: number;
  readonly voters: number;
  readonly majority: number;
  readonly healthy: boolean;
  readonly healthDetail: string;
  /** The other candidates, as the voters that answered last saw them. */
  readonly others: readonly CandidateSeen[];
  /** An operator asked this lb to hand the VIP over (switchover), with the reason to log. */
  readonly handOver?: string;
  /**
   * Present while this lb holds some grants but no lease and other candidates hold grants too:
   * how long that has lasted, and how many grants each holder has (as the voters answered).
   */
  readonly split?: { readonly forMs: number; readonly grants: Readonly<Record<string, number>> };
}

export interface StandbyTransition {
  readonly to: CandidateState;
  readonly reason: string;
  /** Tell the voters at once that the lease is free (instead of letting it run out). */
  readonly releaseLease: boolean;
  /** Stand back this long before asking again. */
  readonly holdMs: number;
}

export function initialMemory(now: number): StandbyMemory {
  return { state: 'passive', since: now, reason: 'starting', activeSince: -Infinity, holdUntil: -Infinity };
}

/** What this lb asks the voters for in the next heartbeat. */
export function wantOf(mem: StandbyMemory, now: number): Want {
  if (mem.state === 'active') return 'acquire';
  return now < mem.holdUntil ? 'observe' : 'acquire';
}

/** A candidate that could take the VIP over from this one right now. */
export function readyPeer(others: readonly CandidateSeen[]): CandidateSeen | undefined {
  return others.filter((c) => c.asking && c.healthy).sort((a, b) => b.priority - a.priority)[0];
}

export function decide(mem: StandbyMemory, f: StandbyFacts, p: StandbyPolicy): StandbyTransition | undefined {
  const votes = `${f.votes} of ${f.voters} voters grant it, a majority is ${f.majority}`;
  const stepDown = (reason: string): StandbyTransition => ({ to: 'passive', reason, releaseLease: true, holdMs: 2 * p.leaseMs });

  if (mem.state === 'fault') {
    return f.now >= mem.holdUntil ? { to: 'passive', reason: `fault hold over (${mem.reason}); standing by again`, releaseLease: false, holdMs: 0 } : undefined;
  }
  if (mem.state === 'passive') {
    if (f.leaseUntil > f.now) return { to: 'active', reason: `lease granted (${votes})`, releaseLease: false, holdMs: 0 };
    // A split vote: voters that heard the candidates in a different order granted different
    // ones, and each renews the grant it holds, so with no majority anywhere nobody would ever
    // serve the VIP. After a lease of it (time to gather every grant it can), the weaker candidate
    // lets its grants go and stands back for a lease; the voters then grant the stronger one.
    // Passive, it serves nothing, so releasing is safe; a stronger one that cannot reach a
    // majority costs it at most a lease of waiting before it asks again.
    const split = f.split && f.split.forMs >= p.leaseMs ? f.split : undefined;
    const stronger = split && f.others.find((c) => c.asking && (split.grants[c.name] ?? 0) > 0
      && outranks(c, { name: p.name, priority: p.priority, healthy: f.healthy }));
    if (stronger) {
      return {
        to: 'passive', releaseLease: true, holdMs: p.leaseMs,
        reason: `holding grants without a lease (${votes}) while ${stronger.name}, which ranks higher, holds ${split.grants[stronger.name]}: letting them go and standing back`,
      };
    }
    return undefined;
  }
  // active
  if (f.leaseUntil <= f.now) return { to: 'passive', reason: `lost the lease (${votes})`, releaseLease: false, holdMs: 0 };
  const peer = readyPeer(f.others);
  if (f.handOver !== undefined && peer) return stepDown(`${f.handOver}: handing the VIP to ${peer.name}`);
  if (f.now - mem.activeSince < p.minHoldMs) return undefined;
  // The peer must have been healthy for min_hold too: at start-up both lbs see their servers come
  // up a few hundred ms apart, and that alone must not move the VIP.
  const steadyPeer = f.others.find((c) => c.asking && c.healthy && c.healthyForMs >= p.minHoldMs);
  if (!f.healthy && steadyPeer) return stepDown(`unhealthy (${f.healthDetail}) while ${steadyPeer.name} is healthy`);
  if (p.preempt && f.healthy) {
    const stronger = f.others.find((c) => c.asking && c.healthy && c.priority > p.priority
      && c.healthyForMs >= p.preemptDelayMs && c.seenForMs >= p.preemptDelayMs);
    if (stronger) return stepDown(`preempted by ${stronger.name} (priority ${stronger.priority} > ${p.priority}, healthy for ${Math.round(stronger.healthyForMs / 1000)}s)`);
  }
  return undefined;
}

interface Rank { readonly name: string; readonly priority: number; readonly healthy: boolean; readonly active?: boolean }

/** The voters' order for a free lease (vote-book.ts): healthy, then active, then priority, then name. */
export function outranks(a: Rank, b: Rank): boolean {
  if (a.healthy !== b.healthy) return a.healthy;
  if ((a.active === true) !== (b.active === true)) return a.active === true;
  if (a.priority !== b.priority) return a.priority > b.priority;
  return a.name < b.name;
}

/** Merge what several voters say about the other candidates: the most favourable view of each. */
export function mergeCandidates(views: readonly (readonly CandidateSeen[])[], self: string): CandidateSeen[] {
  const out = new Map<string, CandidateSeen>();
  for (const list of views) {
    for (const c of list) {
      if (c.name === self) continue;
      const prev = out.get(c.name);
      out.set(c.name, prev ? {
        name: c.name, priority: c.priority, healthy: prev.healthy || c.healthy, asking: prev.asking || c.asking, ...((prev.active || c.active) && { active: true as const }),
        seenForMs: Math.max(prev.seenForMs, c.seenForMs), healthyForMs: Math.max(prev.healthyForMs, c.healthyForMs),
      } : c);
    }
  }
  return [...out.values()];
}
