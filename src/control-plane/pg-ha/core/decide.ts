/**
 * One HA cycle, decided (Patroni's run_cycle as a pure function). Invariant 2 lives here: a
 * primary that cannot prove it holds the leader lock stops taking writes (fence) before the lock
 * could expire elsewhere — unless failsafe mode has every member confirm it is still the primary.
 */
import { electionVerdict } from './election.js';
import { rejoinVerdict } from './rejoin.js';
import { planSync } from './sync-plan.js';
import type { FailoverDoc, HaAction, HaDecision, HaSnapshot } from './types.js';
import { failoverDocOf, memberOf, syncDocOf } from './view.js';
import type { ClusterView } from '../dcs/types.js';

function decision(role: HaDecision['role'], summary: string, ...actions: HaAction[]): HaDecision {
  return { role, summary, actions };
}

export function decide(s: HaSnapshot): HaDecision {
  const me = s.self.name;
  const pg = s.pg;
  const isPrimary = pg.state === 'running' && pg.role === 'primary';
  const isReplica = pg.state === 'running' && pg.role === 'replica';

  // ── The DCS could not be read ────────────────────────────────────────────────────────────
  if (!s.dcs.ok) {
    if (!isPrimary) return decision(isReplica ? 'replica' : 'waiting', `DCS unreachable (${s.dcs.error}): staying as I am; no failover is possible without it`);
    const others = s.clusterMembers.filter((n) => n !== me);
    if (s.config.failsafe && s.lock.renewedAt !== undefined && others.every((n) => s.peers[n]?.failsafeAck)) {
      return decision('primary', `DCS unreachable (${s.dcs.error}) but every member confirms me: staying primary (failsafe)`, { type: 'failsafe-heartbeat' });
    }
    const deadline = (s.lock.renewedAt ?? -Infinity) + s.config.ttlMs - s.config.fenceMarginMs;
    if (s.now >= deadline) {
      const missing = others.filter((n) => !s.peers[n]?.failsafeAck);
      const why = s.config.failsafe && missing.length > 0 ? `; failsafe impossible, no answer from ${missing.join(', ')}` : '';
      return decision('fenced', `DCS unreachable (${s.dcs.error}) and the leader lock may expire: fencing${why}`, { type: 'fence', reason: 'cannot renew the leader lock' });
    }
    return decision('primary', `DCS unreachable (${s.dcs.error}): fencing in ${Math.round(deadline - s.now)}ms unless it answers`,
      ...(s.config.failsafe ? [{ type: 'failsafe-heartbeat' } as const] : []));
  }

  const view = s.dcs.view;
  const leader = view.leader?.holder;

  // ── Not initialised yet ──────────────────────────────────────────────────────────────────
  if (!view.docs.initialize) {
    if (pg.state === 'absent' || isPrimary) return decision('initializing', 'cluster not initialised: racing for the initialize key', { type: 'initialize' });
    return decision('waiting', 'cluster not initialised and my data is not a primary: waiting for a member to initialise it');
  }

  // ── I hold the leader lock ───────────────────────────────────────────────────────────────
  if (leader === me) {
    if (pg.state === 'absent') return decision('waiting', 'holding the leader lock without data: releasing it', { type: 'release-lock' });
    if (isReplica) return decision('primary', 'holding the leader lock: promoting', { type: 'renew-lock' }, promote(view));
    if (!isPrimary) return decision('primary', `holding the leader lock with PostgreSQL ${pg.state}: starting it as primary`, { type: 'renew-lock' }, { type: 'start', as: 'primary' });

    const failover = failoverDocOf(view);
    if (failover && failover.from === me) {
      const target = switchoverTarget(s, failover);
      if (!target.ok) return decision('primary', `switchover refused: ${target.why}`, { type: 'renew-lock' }, { type: 'clear-failover' });
      return decision('fenced', `switchover to ${target.name}: stopping writes and handing over the leader lock`,
        ...(failover.to === undefined ? [{ type: 'set-failover', doc: { ...failover, to: target.name } } as const] : []),
        { type: 'demote', reason: `switchover to ${target.name}` }, { type: 'release-lock' });
    }
    // A standby removed from the cluster file streams until it is stopped: it leaves the sync set
    // first, as one that stopped streaming would (another standby carries the commits, or none is
    // promotable), and is never made synchronous again.
    const excluded = new Set([
      ...view.members.filter((m) => memberOf(view, m.name)?.nofailover).map((m) => m.name),
      ...(pg.standbys ?? []).map((x) => x.name).filter((n) => !s.clusterMembers.includes(n)),
    ]);
    const sync = planSync({
      leader: me, mode: s.config.mode, strict: s.config.strict, pgNames: pg.syncNames ?? [],
      doc: syncDocOf(view)?.leader === me ? syncDocOf(view) : undefined,
      standbys: pg.standbys ?? [], excluded,
      primaryPosition: pg.walPosition ?? 0,
    });
    const standbys = (pg.standbys ?? []).map((x) => x.name);
    const base = `primary holding the leader lock; ${standbys.length} replica(s) streaming${standbys.length ? ` (${standbys.join(', ')})` : ''}`;
    if (sync) return decision('primary', `${base}; ${sync.why}`, { type: 'renew-lock' }, sync.action);
    return decision('primary', base, { type: 'renew-lock' });
  }

  // ── Someone else holds it ────────────────────────────────────────────────────────────────
  if (leader !== undefined) {
    if (isPrimary) return decision('fenced', `${leader} holds the leader lock but I am a writable primary: fencing`, { type: 'fence', reason: `${leader} holds the leader lock` });
    if (pg.state === 'absent') return decision('replica', `cloning from the primary ${leader}`, { type: 'clone', from: leader });
    const leaderInfo = memberOf(view, leader);
    if (pg.state === 'stopped') {
      const v = rejoinVerdict(pg, leader, leaderInfo);
      if (v.kind === 'wait') return decision('replica', `stopped, rejoining when I can tell whether I may follow: ${v.why}`);
      if (v.kind === 'follow') return decision('replica', `rejoining as a replica of ${leader}: ${v.why}`, { type: 'rejoin', leader });
      return decision('replica', `re-cloning from ${leader}: ${v.why}`, { type: 'rejoin', leader, fresh: true });
    }
    if (pg.state === 'starting') return decision('replica', 'PostgreSQL is starting');
    // Only a leader that runs as primary reports its real timeline (a replica's can lag).
    if (leaderInfo?.role === 'primary' && leaderInfo.timeline !== undefined && pg.timeline !== undefined && pg.timeline > leaderInfo.timeline) {
      return decision('replica', `my timeline ${pg.timeline} is ahead of ${leader}'s ${leaderInfo.timeline}: diverged, re-cloning`,
        { type: 'fence', reason: 'diverged timeline' }, { type: 'rejoin', leader, fresh: true });
    }
    if (pg.cannotFollow && pg.upstream === leader && pg.streamingFrom !== leader) {
      return decision('replica', `PostgreSQL cannot follow ${leader} (${pg.cannotFollow}): re-cloning`,
        { type: 'fence', reason: 'replica cannot follow the primary' }, { type: 'rejoin', leader, fresh: true });
    }
    if (pg.streamingFrom !== leader && pg.upstream !== leader) {
      return decision('replica', `replica not streaming from the primary ${leader}${pg.streamingFrom ? ` (streaming from ${pg.streamingFrom})` : ''}: following it`, { type: 'follow', leader });
    }
    if (pg.streamingFrom !== leader) {
      // Pointed at the leader but not streaming. Either the leader is dead and its lock not yet
      // expired (wait), or this replica cannot follow its timeline (it received WAL past the
      // fork point): when the leader is a live primary and this lasts, re-clone.
      const stuckMs = pg.notStreamingMs ?? 0;
      const limit = Math.max(2 * s.config.ttlMs, 5000);
      if (leaderInfo?.role === 'primary' && stuckMs >= limit) {
        return decision('replica', `not streaming from the live primary ${leader} for ${Math.round(stuckMs / 1000)}s: re-cloning`,
          { type: 'fence', reason: 'replica cannot follow the primary' }, { type: 'rejoin', leader, fresh: true });
      }
      return decision('replica', `replica of ${leader}, not streaming (waiting for it, or for its lock to expire)`);
    }
    return decision('replica', `replica streaming from ${leader}`);
  }

  // ── Nobody holds it ──────────────────────────────────────────────────────────────────────
  if (isPrimary) return decision('primary', 'leader lock free and I am the running primary: taking it', { type: 'acquire-lock' });
  if (pg.state === 'stopped') {
    const to = failoverDocOf(view)?.to;
    // A switchover is handing over (this member stopped for it, typically): let the target take the lock.
    if (to && to !== me && memberOf(view, to)) return decision('waiting', `switchover to ${to} in progress: waiting for it to take over`);
    // E.g. the whole cluster restarted: come up read-only and take part in the election.
    return decision('replica', 'no primary: starting PostgreSQL read-only to take part in the election', { type: 'start', as: 'replica' });
  }
  if (!isReplica) return decision('waiting', `no primary and PostgreSQL ${pg.state} here: waiting`);
  const verdict = electionVerdict(s);
  if (!verdict.ok) return decision('replica', `leader lock free; not taking it: ${verdict.why}`);
  return decision('primary', `leader lock free; taking over: ${verdict.why}`, { type: 'acquire-lock' }, promote(view), { type: 'clear-failover' });
}

/** A promotion, planned when a switchover document names the hand-over. */
function promote(view: ClusterView): HaAction {
  const from = failoverDocOf(view)?.from;
  return from === undefined ? { type: 'promote' } : { type: 'promote', handOverFrom: from };
}

/** Who a planned switchover hands over to, and whether that loses nothing. */
function switchoverTarget(s: HaSnapshot, f: FailoverDoc): { ok: true; name: string } | { ok: false; why: string } {
  const view = s.dcs.ok ? s.dcs.view : undefined;
  const standbys = s.pg.standbys ?? [];
  const sync = view && syncDocOf(view);
  const eligible = (name: string): boolean => {
    const info = view && memberOf(view, name);
    if (!info || info.nofailover || !s.clusterMembers.includes(name) || !standbys.some((x) => x.name === name)) return false;
    return s.config.mode === 'async' || (sync?.members.includes(name) ?? false);
  };
  if (f.to) return eligible(f.to) ? { ok: true, name: f.to } : { ok: false, why: `${f.to} is not a streaming${s.config.mode === 'sync' ? ' sync' : ''} standby` };
  const best = [...standbys].sort((a, b) => b.flushPosition - a.flushPosition).find((x) => eligible(x.name));
  return best ? { ok: true, name: best.name } : { ok: false, why: 'no eligible standby' };
}
