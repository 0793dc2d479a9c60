/**
 * May this replica take the free leader lock? Yes only when promoting it cannot lose an
 * acknowledged write (sync mode) or loses at most maximum_lag_on_failover (async), and no
 * healthier member could take it instead.
 */
import type { HaSnapshot, MemberInfo } from './types.js';
import { failoverDocOf, memberOf, syncDocOf } from './view.js';

export type Verdict = { readonly ok: true; readonly why: string } | { readonly ok: false; readonly why: string };

interface Candidate {
  readonly name: string;
  readonly position: number;
  readonly timeline: number;
}

function memberInfo(s: HaSnapshot, name: string): MemberInfo | undefined {
  return s.dcs.ok ? memberOf(s.dcs.view, name) : undefined;
}

/** The freshest position we know for a peer: a live probe beats its DCS key. */
function observed(s: HaSnapshot, name: string): Candidate | undefined {
  const p = s.peers[name];
  if (p?.reachable && p.walPosition !== undefined && p.role === 'replica') {
    return { name, position: p.walPosition, timeline: p.timeline ?? 0 };
  }
  if (p && !p.reachable) return undefined;
  const m = memberInfo(s, name);
  if (m && m.role === 'replica' && m.walPosition !== undefined) return { name, position: m.walPosition, timeline: m.timeline ?? 0 };
  return undefined;
}

/**
 * a beats b. Candidates all followed the same primary, so WAL positions compare directly; a
 * replica's reported timeline can lag (it comes from its last checkpoint once streaming stops),
 * so the timeline only breaks ties, and never against a preferred b (the switchover target:
 * every standby of a cleanly stopped primary ends at the same position, whatever timelines they
 * report). Other equals are broken by name, so two equals never both wait.
 */
function ahead(a: Candidate, b: Candidate, bPreferred: boolean): boolean {
  if (a.position !== b.position) return a.position > b.position;
  if (bPreferred) return false;
  if (a.timeline !== b.timeline) return a.timeline > b.timeline;
  return a.name < b.name;
}

export function electionVerdict(s: HaSnapshot): Verdict {
  const me = s.self.name;
  if (s.self.nofailover) return { ok: false, why: 'tagged nofailover' };
  if (s.pg.state !== 'running' || s.pg.role !== 'replica' || s.pg.walPosition === undefined) {
    return { ok: false, why: 'PostgreSQL is not a running replica here' };
  }
  if (s.failsafeHeartbeat && s.now - s.failsafeHeartbeat.at < s.config.ttlMs) {
    return { ok: false, why: `${s.failsafeHeartbeat.from} is still primary in failsafe mode` };
  }
  const self: Candidate = { name: me, position: s.pg.walPosition, timeline: s.pg.timeline ?? 0 };
  const failover = s.dcs.ok ? failoverDocOf(s.dcs.view) : undefined;
  if (failover?.to && failover.to !== me && memberInfo(s, failover.to)) {
    return { ok: false, why: `switchover to ${failover.to} requested` };
  }

  let rivals: string[];
  if (s.config.mode === 'sync') {
    const sync = s.dcs.ok ? syncDocOf(s.dcs.view) : undefined;
    // The primary that wrote the sync doc holds every commit it acknowledged: it may come back as
    // primary too (a whole-cluster restart), still only as the most advanced of the set.
    if (!sync || !(sync.members.includes(me) || sync.leader === me)) {
      return { ok: false, why: `not a sync standby (sync set: ${sync?.members.join(', ') || 'empty'}): promoting could lose acknowledged writes` };
    }
    rivals = sync.members.filter((n) => n !== me);
    if (sync.leader !== me && !rivals.includes(sync.leader) && observed(s, sync.leader)) rivals.push(sync.leader);
    // ANY 1 (...): an acknowledged commit is on at least one member of the set. Only the most
    // advanced of them all is sure to hold it, so every one must be seen.
    for (const r of rivals) {
      if (!observed(s, r)) return { ok: false, why: `cannot see sync standby ${r}: promoting could lose acknowledged writes` };
    }
  } else {
    if (s.lastLeaderPosition !== undefined) {
      const lag = s.lastLeaderPosition - self.position;
      if (lag > s.config.maximumLagOnFailoverBytes) {
        return { ok: false, why: `${lag} bytes behind the last known primary position (maximum_lag_on_failover ${s.config.maximumLagOnFailoverBytes})` };
      }
    }
    rivals = s.clusterMembers.filter((n) => n !== me && !(memberInfo(s, n)?.nofailover));
  }
  for (const r of rivals) {
    const c = observed(s, r);
    if (c && ahead(c, self, failover?.to === me)) {
      return { ok: false, why: `${r} is further ahead (${c.position} vs ${self.position})` };
    }
  }
  return { ok: true, why: failover?.to === me ? 'chosen by switchover' : `most advanced eligible member at ${self.position}` };
}
