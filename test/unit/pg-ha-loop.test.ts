/**
 * The HA loop end to end on a manual clock: three members, each with its own loop, sharing one
 * in-process DCS store; PostgreSQL is simulated (a pure unit test of the loop's wiring — the real
 * PostgreSQL is exercised by the integration tests). Checks invariant 2 at every step: never two
 * writable primaries, and a primary cut off from the DCS fences before its lock can expire.
 */
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { EmbeddedDcsStore, EmbeddedDcsLocal } from '../../src/control-plane/pg-ha/dcs/index.js';
import { DcsUnavailableError, type Dcs } from '../../src/control-plane/pg-ha/dcs/types.js';
import { HaLoop } from '../../src/control-plane/pg-ha/loop/ha-loop.js';
import type { MemberAddress, PeerPort, PgPort } from '../../src/control-plane/pg-ha/loop/ports.js';
import type { HaConfig, PeerObservation, PgObservation, TimelineSwitch } from '../../src/control-plane/pg-ha/core/types.js';

const CONFIG: HaConfig = { ttlMs: 3000, loopMs: 500, maximumLagOnFailoverBytes: 1 << 20, mode: 'async', strict: false, failsafe: false, fenceMarginMs: 750 };
const NAMES = ['db-1', 'db-2', 'db-3'];
const ADDRS: MemberAddress[] = NAMES.map((name, i) => ({ name, host: `127.0.9.${i + 1}`, pgPort: 5432, api: `https://127.0.9.${i + 1}:7700` }));

/** A simulated PostgreSQL per member, in one shared world so replicas can follow a primary. */
class World {
  readonly pgs = new Map<string, FakePg>();
  primaries(): string[] {
    return [...this.pgs.values()].filter((p) => p.state === 'running' && p.role === 'primary').map((p) => p.name);
  }
}

class FakePg implements PgPort {
  state: PgObservation['state'] = 'absent';
  role: 'primary' | 'replica' = 'replica';
  wal = 0;
  timeline = 1;
  upstream: string | undefined;
  syncNames: string[] = [];
  fences = 0;
  fencedAt: number | undefined;
  /** Ancestry of the current timeline: where each earlier one ended. */
  history: TimelineSwitch[] = [];
  /** How each rejoin went: 'follow' (data kept) or 'clone'. */
  rejoins: string[] = [];
  constructor(readonly name: string, private readonly world: World, private readonly clock: ManualClock) {
    world.pgs.set(name, this);
  }
  private leaderPg(): FakePg | undefined {
    const up = this.upstream && this.world.pgs.get(this.upstream);
    return up && up.state === 'running' && up.role === 'primary' ? up : undefined;
  }
  async observe(): Promise<PgObservation> {
    if (this.state === 'stopped') return { state: this.state, walEnd: { timeline: this.timeline, position: this.wal } };
    if (this.state !== 'running') return { state: this.state };
    if (this.role === 'primary') {
      const standbys = [...this.world.pgs.values()].filter((p) => p.state === 'running' && p.role === 'replica' && p.upstream === this.name)
        .map((p) => ({ name: p.name, flushPosition: p.wal, sync: this.syncNames.includes(p.name) }));
      return { state: 'running', role: 'primary', timeline: this.timeline, walPosition: this.wal, standbys, syncNames: this.syncNames, history: this.history };
    }
    const up = this.leaderPg();
    if (up) {
      // Streaming replication, instantly; a replica whose WAL went past the fork point would be refused.
      assert.ok(up.timeline === this.timeline || this.wal <= (up.history.find((h) => h.timeline === this.timeline)?.end ?? -1),
        `${this.name} follows ${up.name} with WAL ${up.name} never had`);
      this.wal = up.wal;
      this.timeline = up.timeline;
      this.history = up.history;
    }
    return { state: 'running', role: 'replica', timeline: this.timeline, walPosition: this.wal, ...(up ? { streamingFrom: up.name, receivedTimeline: up.timeline } : {}) };
  }
  async initialize(): Promise<void> {
    this.state = 'running';
    this.role = 'primary';
  }
  async start(as: 'primary' | 'replica', leader?: MemberAddress): Promise<void> {
    this.state = 'running';
    this.role = as;
    this.upstream = leader?.name;
  }
  async promote(): Promise<void> {
    this.role = 'primary';
    this.history = [...this.history, { timeline: this.timeline, end: this.wal }];
    this.timeline++;
    this.upstream = undefined;
  }
  async demote(): Promise<void> {
    this.state = 'stopped';
  }
  async fence(): Promise<void> {
    this.fences++;
    this.fencedAt = this.clock.now();
    this.state = 'stopped';
  }
  async clone(leader: MemberAddress): Promise<void> {
    const up = this.world.pgs.get(leader.name)!;
    this.wal = up.wal;
    this.timeline = up.timeline;
    this.history = up.history;
    await this.start('replica', leader);
  }
  async follow(leader: MemberAddress): Promise<void> {
    this.upstream = leader.name;
    this.timeline = this.world.pgs.get(leader.name)!.timeline;
  }
  async rejoin(leader: MemberAddress, opts?: { fresh?: boolean }): Promise<void> {
    this.rejoins.push(opts?.fresh ? 'clone' : 'follow');
    if (opts?.fresh) await this.clone(leader);
    else await this.start('replica', leader);
  }
  async setSyncNames(names: readonly string[]): Promise<void> {
    this.syncNames = [...names];
  }
  async close(): Promise<void> {}
  write(bytes: number): void {
    assert.equal(this.state === 'running' && this.role === 'primary', true, `${this.name} is not a writable primary`);
    this.wal += bytes;
  }
}

/** A DCS client that can be cut off from the store (a network partition). */
class CuttableDcs implements Dcs {
  cut = false;
  /** Renewals left that the store will not answer while reads still work (an etcd leader election). */
  unansweredRenewals = 0;
  /** The store answers this member's reads but none of its writes. */
  writesUnanswered = false;
  constructor(private readonly inner: Dcs) {}
  get description(): string {
    return this.inner.description;
  }
  get minTtlMs(): number {
    return this.inner.minTtlMs;
  }
  private guard(write = true): void {
    if (this.cut) throw new DcsUnavailableError('partitioned');
    if (write && this.writesUnanswered) throw new DcsUnavailableError('no leader');
  }
  async read() { this.guard(false); return this.inner.read(); }
  async acquireLeader(n: string, t: number) { this.guard(); return this.inner.acquireLeader(n, t); }
  async renewLeader(n: string, t: number) {
    this.guard();
    if (this.unansweredRenewals > 0) {
      this.unansweredRenewals--;
      throw new DcsUnavailableError('no leader');
    }
    return this.inner.renewLeader(n, t);
  }
  async releaseLeader(n: string) { this.guard(); return this.inner.releaseLeader(n); }
  async touchMember(n: string, d: Record<string, unknown>, t: number) { this.guard(); return this.inner.touchMember(n, d, t); }
  async deleteMember(n: string) { this.guard(); return this.inner.deleteMember(n); }
  async setDoc(k: Parameters<Dcs['setDoc']>[0], v: unknown, e?: string | null) { this.guard(); return this.inner.setDoc(k, v, e); }
  async deleteDoc(k: Parameters<Dcs['deleteDoc']>[0], e?: string) { this.guard(); return this.inner.deleteDoc(k, e); }
  async waitForChange(): Promise<void> {}
  async close(): Promise<void> {}
}

interface Member {
  name: string;
  pg: FakePg;
  dcs: CuttableDcs;
  loop: HaLoop;
  alive: boolean;
}

describe('HA loop (3 members, manual clock, simulated PostgreSQL)', () => {
  let clock: ManualClock;
  let world: World;
  let members: Member[];
  let store: EmbeddedDcsStore;

  function build(config: HaConfig = CONFIG): void {
    clock = new ManualClock(1_000_000);
    world = new World();
    store = new EmbeddedDcsStore({ cluster: 't', clock });
    const peers: PeerPort = {
      observe: async (m) => {
        const target = members.find((x) => x.name === m.name)!;
        if (!target.alive) return { reachable: false };
        const o = await target.pg.observe();
        return { reachable: true, role: o.state === 'running' ? o.role! : 'stopped', walPosition: o.walPosition, timeline: o.timeline } satisfies PeerObservation;
      },
      failsafeHeartbeat: async (m, from) => {
        const target = members.find((x) => x.name === m.name)!;
        if (!target.alive) return false;
        target.loop.noteFailsafeHeartbeat(from);
        return true;
      },
    };
    members = NAMES.map((name) => {
      const pg = new FakePg(name, world, clock);
      const dcs = new CuttableDcs(new EmbeddedDcsLocal(store));
      const loop = new HaLoop({ name, nofailover: false, config, dcs, pg, peers, clock, log: silentLogger(), members: ADDRS });
      return { name, pg, dcs, loop, alive: true };
    });
  }

  /** One round: every live member runs a cycle, then time moves by one loop. */
  async function round(): Promise<void> {
    for (const m of members) if (m.alive) await m.loop.cycle();
    assert.ok(world.primaries().length <= 1, `two writable primaries: ${world.primaries().join(', ')} at ${clock.now()}`);
    clock.advance(CONFIG.loopMs);
    assert.ok(world.primaries().length <= 1, `two writable primaries after timers: ${world.primaries().join(', ')}`);
  }

  async function rounds(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await round();
  }

  beforeEach(() => build());

  it('bootstraps exactly one primary; the others clone and stream from it', async () => {
    await rounds(4);
    assert.deepEqual(world.primaries(), ['db-1']);
    for (const n of ['db-2', 'db-3']) {
      const o = await world.pgs.get(n)!.observe();
      assert.equal(o.role, 'replica');
      assert.equal(o.streamingFrom, 'db-1');
    }
  });

  it('the primary dies: after the TTL the most advanced replica takes over and the other follows', async () => {
    await rounds(4);
    world.pgs.get('db-1')!.write(100);
    await rounds(1); // replicas receive it
    const dead = members[0]!;
    dead.alive = false;
    dead.pg.state = 'stopped'; // kill -9 of the whole node
    const diedAt = clock.now();
    let promotedAt: number | undefined;
    for (let i = 0; i < 20 && promotedAt === undefined; i++) {
      await round();
      if (world.primaries().length === 1) promotedAt = clock.now();
    }
    assert.ok(promotedAt !== undefined, 'nobody was promoted');
    assert.deepEqual(world.primaries(), ['db-2']); // equal positions: the lower name wins
    assert.equal(members[1]!.loop.current.promotion?.planned, false, 'a promotion nobody asked for is a failover');
    assert.ok(promotedAt - diedAt >= CONFIG.ttlMs - CONFIG.loopMs, 'promoted before the lock could have expired');
    assert.ok(promotedAt - diedAt <= CONFIG.ttlMs + 2 * CONFIG.loopMs, `promotion took ${promotedAt - diedAt}ms`);
    await rounds(2);
    assert.equal((await world.pgs.get('db-3')!.observe()).streamingFrom, 'db-2');
    world.pgs.get('db-2')!.write(10); // writable
    // The old primary comes back: it must rejoin as a replica, never as a second primary.
    dead.alive = true;
    await rounds(3);
    assert.deepEqual(world.primaries(), ['db-2']);
    assert.equal((await world.pgs.get('db-1')!.observe()).streamingFrom, 'db-2');
    assert.deepEqual(dead.pg.rejoins, ['follow'], 'every write of the old primary reached db-2: it follows with its data');
  });

  it('a switchover: the target promotes and remembers it was a planned hand-over from the old primary', async () => {
    await rounds(4);
    assert.equal(members[0]!.loop.current.promotion, undefined, 'the bootstrap primary was never promoted');
    const primary = members[0]!;
    await primary.dcs.setDoc('failover', { from: 'db-1', to: 'db-3', requestedAt: clock.now() }, null);
    for (let i = 0; i < 20 && world.primaries()[0] !== 'db-3'; i++) await round();
    assert.deepEqual(world.primaries(), ['db-3']);
    assert.deepEqual(members[2]!.loop.current.promotion, { at: members[2]!.loop.current.promotion!.at, planned: true, from: 'db-1' });
  });

  it('an old primary with WAL the new primary never had is re-cloned, not followed', async () => {
    await rounds(4);
    const old = world.pgs.get('db-1')!;
    old.write(100);
    const dead = members[0]!;
    dead.alive = false;
    old.state = 'stopped'; // killed before its replicas received the last 100 bytes
    await rounds(10);
    assert.deepEqual(world.primaries(), ['db-2']);
    world.pgs.get('db-2')!.write(10);
    dead.alive = true;
    await rounds(3);
    assert.deepEqual(old.rejoins, ['clone']);
    assert.equal(old.wal, world.pgs.get('db-2')!.wal);
    assert.equal((await old.observe()).streamingFrom, 'db-2');
  });

  it('a primary cut off from the DCS fences itself before its lock expires, then a replica promotes', async () => {
    await rounds(4);
    const p = members[0]!;
    p.dcs.cut = true;
    // Its last successful renewal was sent no later than now; the store expires the lock TTL after.
    const lockExpiresNoEarlierThan = clock.now() - CONFIG.loopMs + CONFIG.ttlMs;
    let promotedAt: number | undefined;
    for (let i = 0; i < 20 && promotedAt === undefined; i++) {
      await round();
      if (world.primaries().some((n) => n !== 'db-1')) promotedAt = clock.now();
    }
    const fencedAt = p.pg.fencedAt;
    assert.ok(fencedAt !== undefined && promotedAt !== undefined);
    assert.ok(fencedAt < lockExpiresNoEarlierThan, `fenced at ${fencedAt}, lock could expire at ${lockExpiresNoEarlierThan}`);
    assert.ok(fencedAt < promotedAt);
  });

  it('a renewal the store does not answer (etcd electing a leader) is retried within the TTL, not fenced at once', async () => {
    await rounds(4);
    const p = members[0]!;
    p.dcs.unansweredRenewals = 2; // a second without answers, well inside the 3 s TTL
    await rounds(8);
    assert.deepEqual(world.primaries(), ['db-1']);
    assert.equal(p.pg.fences, 0);
  });

  it('renewals never answered: the watchdog still fences before the lock can expire', async () => {
    await rounds(4);
    const p = members[0]!;
    const lockExpiresNoEarlierThan = clock.now() - CONFIG.loopMs + CONFIG.ttlMs;
    p.dcs.writesUnanswered = true;
    for (let i = 0; i < 10; i++) {
      // Its cycles fail where they write (publishing its state): the agent logs those and goes on.
      for (const m of members) await m.loop.cycle().catch(() => undefined);
      assert.ok(world.primaries().length <= 1);
      clock.advance(CONFIG.loopMs);
      if (clock.now() >= lockExpiresNoEarlierThan) assert.ok(!world.primaries().includes('db-1'), `db-1 writable at ${clock.now()}, after its lock could expire`);
    }
    assert.ok(p.pg.fences >= 1, 'never fenced');
  });

  it('failsafe: cut off from the DCS but confirmed by every member, the primary keeps serving and nobody promotes', async () => {
    build({ ...CONFIG, failsafe: true });
    await rounds(4);
    for (const m of members) m.dcs.cut = true; // the DCS itself is down
    await rounds(20); // 10 s, more than three TTLs
    assert.deepEqual(world.primaries(), ['db-1']);
    world.pgs.get('db-1')!.write(1);
    // One member stops answering: failsafe no longer holds and the primary fences.
    members[2]!.alive = false;
    await rounds(10);
    assert.deepEqual(world.primaries(), []);
    assert.equal(members[0]!.pg.fences, 1);
  });

  it('failsafe: reads answered but renewals not (etcd\'s leader died between the two), every member confirms: the primary keeps serving', async () => {
    build({ ...CONFIG, failsafe: true });
    await rounds(4);
    const p = members[0]!;
    p.dcs.unansweredRenewals = 12; // 6 s, two TTLs
    await rounds(12);
    assert.deepEqual(world.primaries(), ['db-1']);
    assert.equal(p.pg.fences, 0);
    world.pgs.get('db-1')!.write(1);
    await rounds(2);
    assert.deepEqual(world.primaries(), ['db-1']);
  });

  it('failsafe kept a primary past its lock, then the free lock cannot be taken: the watchdog fences it before anyone else may promote', async () => {
    build({ ...CONFIG, failsafe: true });
    await rounds(4);
    const p = members[0]!;
    // Renewals go unanswered; failsafe holds the primary while the lock expires in the store.
    p.dcs.writesUnanswered = true;
    let fencedAt: number | undefined;
    for (let i = 0; i < 30 && fencedAt === undefined; i++) {
      // Its cycles fail where they write (taking the free lock): the agent logs those and goes on.
      for (const m of members) await m.loop.cycle().catch(() => undefined);
      assert.ok(world.primaries().length <= 1, `two writable primaries: ${world.primaries().join(', ')}`);
      clock.advance(CONFIG.loopMs);
      if (p.pg.fences > 0) fencedAt = clock.now();
    }
    assert.ok(fencedAt !== undefined, 'the primary was never fenced');
    assert.ok(!world.primaries().includes('db-1'));
    p.dcs.writesUnanswered = false;
    await rounds(10);
    assert.equal(world.primaries().length, 1, 'a member took over once the old primary was fenced');
  });
});
