/** The HA cycle as table-driven scenarios: each row is a situation and the decision it must get. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/control-plane/pg-ha/core/decide.js';
import type { HaConfig, HaSnapshot, MemberInfo, PgObservation, SyncDoc } from '../../src/control-plane/pg-ha/core/types.js';
import type { ClusterView, DocKey, VersionedDoc } from '../../src/control-plane/pg-ha/dcs/types.js';

const CONFIG: HaConfig = { ttlMs: 3000, loopMs: 500, maximumLagOnFailoverBytes: 1_048_576, mode: 'async', strict: false, failsafe: true, fenceMarginMs: 750 };

interface Scenario {
  me?: string;
  pg: PgObservation;
  leader?: string;
  members?: Record<string, MemberInfo>;
  docs?: Partial<Record<DocKey, unknown>>;
  dcsDown?: boolean;
  renewedAt?: number;
  now?: number;
  mode?: 'async' | 'sync';
  peers?: HaSnapshot['peers'];
  lastLeaderPosition?: number;
  failsafeHeartbeat?: HaSnapshot['failsafeHeartbeat'];
  nofailover?: boolean;
}

function snapshot(sc: Scenario): HaSnapshot {
  const docs: Partial<Record<DocKey, VersionedDoc>> = { initialize: { value: 'sysid', version: '1' } };
  for (const [k, v] of Object.entries(sc.docs ?? {})) {
    if (v === undefined) delete docs[k as DocKey];
    else docs[k as DocKey] = { value: v, version: '7' };
  }
  const view: ClusterView = {
    ...(sc.leader ? { leader: { holder: sc.leader, version: '9', ttlMs: 3000 } } : {}),
    members: Object.entries(sc.members ?? {}).map(([name, data]) => ({ name, data: data as unknown as Record<string, unknown> })),
    docs,
  };
  return {
    now: sc.now ?? 10_000,
    config: { ...CONFIG, mode: sc.mode ?? 'async' },
    self: { name: sc.me ?? 'db-2', nofailover: sc.nofailover ?? false },
    pg: sc.pg,
    dcs: sc.dcsDown ? { ok: false, error: 'connect ECONNREFUSED' } : { ok: true, view },
    lock: sc.renewedAt === undefined ? {} : { renewedAt: sc.renewedAt },
    clusterMembers: ['db-1', 'db-2', 'db-3'],
    peers: sc.peers ?? {},
    ...(sc.failsafeHeartbeat ? { failsafeHeartbeat: sc.failsafeHeartbeat } : {}),
    ...(sc.lastLeaderPosition !== undefined ? { lastLeaderPosition: sc.lastLeaderPosition } : {}),
  };
}

const replica = (walPosition: number, streamingFrom?: string): PgObservation => ({ state: 'running', role: 'replica', timeline: 1, walPosition, ...(streamingFrom ? { streamingFrom } : {}) });
const primary = (extra: Partial<PgObservation> = {}): PgObservation => ({ state: 'running', role: 'primary', timeline: 1, walPosition: 5000, standbys: [], syncNames: [], ...extra });
const rep = (walPosition: number, extra: Partial<MemberInfo> = {}): MemberInfo => ({ role: 'replica', timeline: 1, walPosition, ...extra });

function types(sc: Scenario): string[] {
  return decide(snapshot(sc)).actions.map((a) => a.type);
}

describe('decide: failover', () => {
  const rows: [string, Scenario, string[], RegExp][] = [
    ['lock free, I am the most advanced replica → take it and promote',
      { pg: replica(900), members: { 'db-3': rep(800) } }, ['acquire-lock', 'promote', 'clear-failover'], /most advanced/],
    ['lock free, another replica is further ahead → wait',
      { pg: replica(800), members: { 'db-3': rep(900) } }, [], /db-3 is further ahead/],
    ['lock free, a live probe beats a stale DCS key',
      { pg: replica(800), members: { 'db-3': rep(700) }, peers: { 'db-3': { reachable: true, walPosition: 950, role: 'replica', timeline: 1 } } }, [], /db-3 is further ahead/],
    ['a stale (lower) reported timeline does not beat more WAL',
      { pg: { ...replica(900), timeline: 1 }, members: { 'db-3': { ...rep(800), timeline: 2 } } }, ['acquire-lock', 'promote', 'clear-failover'], /most advanced/],
    ['lock free, equal positions: the lower name wins',
      { me: 'db-3', pg: replica(900), members: { 'db-2': rep(900) } }, [], /db-2 is further ahead/],
    ['lagging replica must not promote (async, beyond maximum_lag_on_failover)',
      { pg: replica(1000), lastLeaderPosition: 1000 + 2_000_000 }, [], /bytes behind the last known primary/],
    ['nofailover never promotes', { pg: replica(900), nofailover: true }, [], /nofailover/],
    ['a primary alive in failsafe mode keeps replicas from promoting',
      { pg: replica(900), failsafeHeartbeat: { from: 'db-1', at: 9_000 } }, [], /db-1 is still primary in failsafe mode/],
    ['sync mode: only a sync standby may promote',
      { pg: replica(900), mode: 'sync', docs: { sync: { leader: 'db-1', members: ['db-3'] } satisfies SyncDoc }, members: { 'db-3': rep(800) } },
      [], /not a sync standby/],
    ['sync mode: a sync standby that cannot see the rest of the sync set waits',
      { pg: replica(900), mode: 'sync', docs: { sync: { leader: 'db-1', members: ['db-2', 'db-3'] } satisfies SyncDoc } },
      [], /cannot see sync standby db-3/],
    ['sync mode: the primary that wrote the sync doc may come back (whole-cluster restart)',
      { me: 'db-1', pg: replica(900), mode: 'sync', docs: { sync: { leader: 'db-1', members: [] } satisfies SyncDoc } },
      ['acquire-lock', 'promote', 'clear-failover'], /most advanced/],
    ['sync mode: the most advanced sync standby promotes',
      { pg: replica(900), mode: 'sync', docs: { sync: { leader: 'db-1', members: ['db-2', 'db-3'] } satisfies SyncDoc }, members: { 'db-3': rep(850) } },
      ['acquire-lock', 'promote', 'clear-failover'], /most advanced/],
    ['switchover target wins ties',
      { me: 'db-3', pg: replica(900), members: { 'db-2': rep(900) }, docs: { failover: { from: 'db-1', to: 'db-3', requestedAt: 1 } } },
      ['acquire-lock', 'promote', 'clear-failover'], /chosen by switchover/],
    ['switchover target wins a tie even against a higher reported timeline (a lagging replica report)',
      { me: 'db-3', pg: { ...replica(900), timeline: 2 }, members: { 'db-2': { ...rep(900), timeline: 4 } }, docs: { failover: { from: 'db-1', to: 'db-3', requestedAt: 1 } } },
      ['acquire-lock', 'promote', 'clear-failover'], /chosen by switchover/],
    ['switchover to someone else: do not take the lock',
      { pg: replica(900), members: { 'db-3': rep(100) }, docs: { failover: { from: 'db-1', to: 'db-3', requestedAt: 1 } } },
      [], /switchover to db-3 requested/],
  ];
  for (const [name, sc, actions, summary] of rows) {
    it(name, () => {
      const d = decide(snapshot(sc));
      assert.deepEqual(d.actions.map((a) => a.type), actions);
      assert.match(d.summary, summary);
    });
  }
});

describe('decide: fencing (never two writable primaries)', () => {
  it('DCS unreachable: the primary keeps serving until the fencing deadline, then fences', () => {
    const base: Scenario = { me: 'db-1', pg: primary(), dcsDown: true, renewedAt: 10_000 };
    // deadline = renewedAt + ttl − margin = 10000 + 3000 − 750 = 12250
    assert.deepEqual(types({ ...base, now: 12_249 }), ['failsafe-heartbeat']);
    assert.match(decide(snapshot({ ...base, now: 12_000 })).summary, /fencing in 250ms/);
    const d = decide(snapshot({ ...base, now: 12_250 }));
    assert.deepEqual(d.actions.map((a) => a.type), ['fence']);
    assert.equal(d.role, 'fenced');
    assert.match(d.summary, /failsafe impossible, no answer from db-2, db-3/);
  });

  it('failsafe: every member confirms the primary → it stays past the deadline', () => {
    const d = decide(snapshot({ me: 'db-1', pg: primary(), dcsDown: true, renewedAt: 1_000, now: 60_000,
      peers: { 'db-2': { reachable: true, failsafeAck: true }, 'db-3': { reachable: true, failsafeAck: true } } }));
    assert.equal(d.role, 'primary');
    assert.match(d.summary, /failsafe/);
  });

  it('failsafe needs every member: one silent member → fence', () => {
    assert.deepEqual(types({ me: 'db-1', pg: primary(), dcsDown: true, renewedAt: 1_000, now: 60_000,
      peers: { 'db-2': { reachable: true, failsafeAck: true }, 'db-3': { reachable: false } } }), ['fence']);
  });

  it('a primary that never held the lock fences at once when the DCS is down', () => {
    assert.deepEqual(types({ me: 'db-1', pg: primary(), dcsDown: true }), ['fence']);
  });

  it('someone else holds the lock and I am writable: fence now', () => {
    const d = decide(snapshot({ me: 'db-1', pg: primary(), leader: 'db-2' }));
    assert.deepEqual(d.actions, [{ type: 'fence', reason: 'db-2 holds the leader lock' }]);
  });

  it('the lock holder renews every cycle', () => {
    assert.deepEqual(types({ me: 'db-1', pg: primary(), leader: 'db-1', docs: { sync: { leader: 'db-1', members: [] } } }), ['renew-lock']);
  });
});

describe('decide: joining and rejoining', () => {
  const rows: [string, Scenario, string[]][] = [
    ['no data, leader exists → clone', { pg: { state: 'absent' }, leader: 'db-1' }, ['clone']],
    ['stopped (e.g. the old primary back after a crash) → rejoin', { me: 'db-1', pg: { state: 'stopped', walEnd: { timeline: 1, position: 40 } }, leader: 'db-2',
      members: { 'db-2': { role: 'primary', timeline: 2, walPosition: 90, history: [{ timeline: 1, end: 50 }] } } }, ['rejoin']],
    ['stopped, leader not promoted yet → wait', { me: 'db-1', pg: { state: 'stopped', walEnd: { timeline: 1, position: 40 } }, leader: 'db-2',
      members: { 'db-2': rep(50) } }, []],
    ['replica refused by its primary (PostgreSQL says it forked off) → fence and re-clone at once',
      { pg: { ...replica(10), upstream: 'db-1', notStreamingMs: 500, cannotFollow: 'LOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/3000060' },
        leader: 'db-1', members: { 'db-1': { role: 'primary', timeline: 2, walPosition: 50 } } }, ['fence', 'rejoin']],
    ['replica streaming from someone else → follow the leader', { pg: replica(10, 'db-3'), leader: 'db-1' }, ['follow']],
    ['replica streaming from the leader → nothing to do', { pg: replica(10, 'db-1'), leader: 'db-1' }, []],
    ['replica pointed at the leader but not streaming (leader dead, lock not expired) → wait, do not re-point',
      { pg: { ...replica(10), upstream: 'db-1', notStreamingMs: 60_000 }, leader: 'db-1' }, []],
    ['pointed at a live primary but not streaming for long (cannot follow its timeline) → fence and re-clone',
      { pg: { ...replica(10), upstream: 'db-1', notStreamingMs: 6_000 }, leader: 'db-1', members: { 'db-1': { role: 'primary', timeline: 2, walPosition: 50 } } },
      ['fence', 'rejoin']],
    ['pointed at a live primary, not streaming only briefly → wait',
      { pg: { ...replica(10), upstream: 'db-1', notStreamingMs: 1_000 }, leader: 'db-1', members: { 'db-1': { role: 'primary', timeline: 2, walPosition: 50 } } },
      []],
    ['replica on a newer timeline than the leader → diverged: fence and rejoin',
      { pg: { ...replica(10, 'db-1'), timeline: 3 }, leader: 'db-1', members: { 'db-1': { role: 'primary', timeline: 2, walPosition: 10 } } }, ['fence', 'rejoin']],
    ['not initialised, no data → race for the initialize key', { pg: { state: 'absent' }, docs: { initialize: undefined } }, ['initialize']],
    ['not initialised, replica data → wait', { pg: replica(5), docs: { initialize: undefined } }, []],
    ['I hold the lock as a replica (promotion pending) → promote', { pg: replica(5), leader: 'db-2' }, ['renew-lock', 'promote']],
    ['I hold the lock and PostgreSQL is down → start it as primary', { pg: { state: 'stopped' }, leader: 'db-2' }, ['renew-lock', 'start']],
    ['lock free and I am the running primary → take it', { me: 'db-1', pg: primary() }, ['acquire-lock']],
    ['lock free and my data is stopped (cluster restart) → start read-only for the election', { pg: { state: 'stopped' } }, ['start']],
    ['lock free, stopped for a switchover to another member → wait for it instead of starting',
      { me: 'db-1', pg: { state: 'stopped' }, members: { 'db-2': rep(900) }, docs: { failover: { from: 'db-1', to: 'db-2', requestedAt: 1 } } }, []],
    ['the leader took the lock but is not promoted yet (stale low timeline): a replica on a higher timeline is not fenced',
      { pg: { ...replica(10), timeline: 4, upstream: 'db-1' }, leader: 'db-1', members: { 'db-1': { ...rep(10), timeline: 1 } } }, []],
  ];
  for (const [name, sc, actions] of rows) it(name, () => assert.deepEqual(types(sc), actions));
});

describe('decide: how a stopped member rejoins', () => {
  const leader = { role: 'primary', timeline: 2, walPosition: 9000, history: [{ timeline: 1, end: 5000 }] } satisfies MemberInfo;
  const rows: [string, PgObservation, { type: string; fresh?: boolean }[], RegExp][] = [
    ['WAL is a prefix of the leader\'s → follow as it is', { state: 'stopped', walEnd: { timeline: 1, position: 5000 } },
      [{ type: 'rejoin' }], /rejoining as a replica of db-1: my WAL ends at 0\/1388 on timeline 1, not past db-1's fork point/],
    ['WAL past the fork point → re-clone (fresh)', { state: 'stopped', walEnd: { timeline: 1, position: 5008 } },
      [{ type: 'rejoin', fresh: true }], /re-cloning from db-1: .*past db-1's fork point 0\/1388/],
  ];
  for (const [name, pg, actions, summary] of rows) {
    it(name, () => {
      const d = decide(snapshot({ me: 'db-2', pg, leader: 'db-1', members: { 'db-1': leader } }));
      assert.deepEqual(d.actions.map((a) => ({ type: a.type, ...('fresh' in a && a.fresh ? { fresh: true } : {}) })), actions);
      assert.match(d.summary, summary);
    });
  }
  it('a replica on a newer timeline than the leader is fenced and re-cloned, never followed', () => {
    const d = decide(snapshot({ pg: { ...replica(10, 'db-1'), timeline: 3 }, leader: 'db-1', members: { 'db-1': leader } }));
    assert.deepEqual(d.actions, [{ type: 'fence', reason: 'diverged timeline' }, { type: 'rejoin', leader: 'db-1', fresh: true }]);
  });
});

describe('decide: switchover', () => {
  const members = { 'db-2': rep(5000), 'db-3': rep(5000) };
  it('hands over to a streaming standby: fence, then release the lock', () => {
    const d = decide(snapshot({ me: 'db-1', leader: 'db-1', members, pg: primary({ standbys: [{ name: 'db-2', flushPosition: 5000, sync: false }] }),
      docs: { failover: { from: 'db-1', to: 'db-2', requestedAt: 1 } } }));
    assert.deepEqual(d.actions.map((a) => a.type), ['demote', 'release-lock']);
    assert.match(d.summary, /switchover to db-2/);
  });
  it('a switchover without a target pins the one the primary chose before handing over', () => {
    const d = decide(snapshot({ me: 'db-1', leader: 'db-1', members, pg: primary({ standbys: [{ name: 'db-3', flushPosition: 5000, sync: false }] }),
      docs: { failover: { from: 'db-1', requestedAt: 1 } } }));
    assert.deepEqual(d.actions[0], { type: 'set-failover', doc: { from: 'db-1', requestedAt: 1, to: 'db-3' } });
    assert.deepEqual(d.actions.slice(1).map((a) => a.type), ['demote', 'release-lock']);
  });
  it('refuses a target that is not streaming, and clears the request', () => {
    const d = decide(snapshot({ me: 'db-1', leader: 'db-1', members, pg: primary(), docs: { failover: { from: 'db-1', to: 'db-3', requestedAt: 1 } } }));
    assert.deepEqual(d.actions.map((a) => a.type), ['renew-lock', 'clear-failover']);
    assert.match(d.summary, /switchover refused: db-3 is not a streaming standby/);
  });
  it('sync mode: only to a sync standby', () => {
    const d = decide(snapshot({ me: 'db-1', leader: 'db-1', members, mode: 'sync',
      pg: primary({ standbys: [{ name: 'db-3', flushPosition: 5000, sync: false }], syncNames: ['db-2'] }),
      docs: { sync: { leader: 'db-1', members: ['db-2'] }, failover: { from: 'db-1', to: 'db-3', requestedAt: 1 } } }));
    assert.match(d.summary, /db-3 is not a streaming sync standby/);
  });
});

describe('decide: a standby removed from the cluster file (db-4 is not a member)', () => {
  const members = { 'db-2': rep(5000), 'db-4': rep(5000) };
  const standbys = [{ name: 'db-2', flushPosition: 5000, sync: true }, { name: 'db-4', flushPosition: 5000, sync: true }];
  const primarySync = (syncNames: string[], dcs: string[]): ReturnType<typeof decide> => decide(snapshot({
    me: 'db-1', leader: 'db-1', members, mode: 'sync', pg: primary({ standbys, syncNames }), docs: { sync: { leader: 'db-1', members: dcs } },
  }));
  it('leaves synchronous_standby_names first while it still streams, then the DCS sync set', () => {
    assert.deepEqual(primarySync(['db-2', 'db-4'], ['db-2', 'db-4']).actions[1], { type: 'set-sync-pg', names: ['db-2'] });
    assert.deepEqual(primarySync(['db-2'], ['db-2', 'db-4']).actions[1],
      { type: 'set-sync-dcs', doc: { leader: 'db-1', members: ['db-2', 'db-4'], leaving: { names: ['db-4'], position: 5000 } } });
  });
  it('is never made synchronous again', () => {
    assert.deepEqual(primarySync(['db-2'], ['db-2']).actions.map((a) => a.type), ['renew-lock']);
  });
  it('is no switchover target', () => {
    const d = decide(snapshot({ me: 'db-1', leader: 'db-1', members, pg: primary({ standbys }), docs: { failover: { from: 'db-1', to: 'db-4', requestedAt: 1 } } }));
    assert.match(d.summary, /switchover refused: db-4 is not a streaming standby/);
  });
});
