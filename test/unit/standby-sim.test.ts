/**
 * The VIP election end to end on a manual clock: two lb candidates and five voters on a simulated
 * network with latency, crashes, partitions and voter restarts. The VIPs are fakes that record
 * who serves when. Checked at every step: never two lbs serving the VIP at once (invariant 4),
 * and a takeover within lease + heartbeat after the active dies.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { StandbyCandidate } from '../../src/control-plane/standby/candidate.js';
import { VoteBook } from '../../src/control-plane/standby/vote-book.js';
import type { HookPort, VipPort, VoterPort } from '../../src/control-plane/standby/ports.js';
import type { VoteReply, VoteRequest } from '../../src/control-plane/standby/types.js';

const LEASE = 600;
const HEARTBEAT = 100;
const LATENCY = 2; // one way
const VOTERS = ['lb-1', 'lb-2', 'web-1', 'web-2', 'mon-1'];
const PRIORITY: Record<string, number> = { 'lb-1': 100, 'lb-2': 90 };

class World {
  readonly clock = new ManualClock(1_000_000);
  readonly books = new Map<string, VoteBook>();
  /** Links that are cut, as "a|b" with a < b. */
  readonly cuts = new Set<string>();
  readonly serving = new Set<string>();
  readonly healthy = new Map<string, boolean>();
  readonly acquiredAt = new Map<string, number>();
  violations: string[] = [];
  readonly candidates = new Map<string, StandbyCandidate>();
  /** Hosts whose VIP cannot be brought up (a listener that fails to bind). */
  readonly broken = new Set<string>();
  readonly hookRuns: string[] = [];

  constructor() {
    for (const v of VOTERS) this.restartVoter(v);
  }

  restartVoter(v: string): void {
    this.books.set(v, new VoteBook({ voter: v, leaseMs: LEASE, freshMs: 2 * HEARTBEAT }, this.clock));
  }

  linked(a: string, b: string): boolean {
    return a === b || !this.cuts.has([a, b].sort().join('|'));
  }

  /** Cut (or heal) every link of one host. */
  isolate(host: string, on: boolean): void {
    for (const other of [...VOTERS, 'lb-1', 'lb-2']) {
      if (other === host) continue;
      const key = [host, other].sort().join('|');
      if (on) this.cuts.add(key);
      else this.cuts.delete(key);
    }
  }

  port(from: string): VoterPort {
    return {
      ask: (voter: string, req: VoteRequest, timeoutMs: number) => new Promise<VoteReply>((resolve, reject) => {
        if (!this.linked(from, voter) || !this.books.has(voter)) {
          this.clock.setTimeout(() => reject(new Error('timeout')), timeoutMs);
          return;
        }
        this.clock.setTimeout(() => {
          const book = this.books.get(voter);
          if (!book || !this.linked(from, voter)) return void this.clock.setTimeout(() => reject(new Error('timeout')), timeoutMs);
          const reply = book.handle(req);
          this.clock.setTimeout(() => (this.linked(from, voter) ? resolve(reply) : reject(new Error('lost'))), LATENCY);
        }, LATENCY);
      }),
    };
  }

  vip(name: string): VipPort {
    return {
      acquire: async () => {
        if (this.broken.has(name)) throw new Error('cannot listen on the VIP: address already in use');
        const others = [...this.serving].filter((s) => s !== name);
        if (others.length > 0) this.violations.push(`${name} took the VIP at ${this.clock.now()} while ${others.join(', ')} served it`);
        this.serving.add(name);
        this.acquiredAt.set(name, this.clock.now());
      },
      release: async () => void this.serving.delete(name),
      announce: async () => {},
      describe: () => 'sim',
    };
  }

  start(name: string, over: { preempt?: boolean } = {}): StandbyCandidate {
    this.healthy.set(name, this.healthy.get(name) ?? true);
    const hooks: HookPort = { run: (event, reason) => void this.hookRuns.push(`${name} ${event}: ${reason}`) };
    const c = new StandbyCandidate({
      policy: { name, priority: PRIORITY[name]!, leaseMs: LEASE, preempt: over.preempt ?? false, preemptDelayMs: 5000, minHoldMs: 2000 },
      heartbeatMs: HEARTBEAT, announceIntervalMs: 1000, voters: VOTERS, voterPort: this.port(name), vip: this.vip(name), hooks,
      health: () => ({ healthy: this.healthy.get(name)!, detail: this.healthy.get(name) ? 'ok' : 'no server up' }), clock: this.clock, log: silentLogger(),
    });
    this.candidates.set(name, c);
    c.start();
    return c;
  }

  /** kill -9 of the lb's host: its process, its vote and its VIP vanish at once. */
  async crash(name: string): Promise<void> {
    this.isolate(name, true);
    this.books.delete(name);
    this.serving.delete(name);
    await this.candidates.get(name)!.stop();
    this.candidates.delete(name);
  }

  revive(name: string, over: { preempt?: boolean } = {}): StandbyCandidate {
    this.isolate(name, false);
    this.restartVoter(name);
    return this.start(name, over);
  }

  holders(): string[] {
    return [...this.serving];
  }

  async run(ms: number, step = 1): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      await new Promise((r) => setImmediate(r));
      if (this.serving.size > 1) this.violations.push(`two holders at ${this.clock.now()}: ${this.holders().join(', ')}`);
    }
  }

  /** Run until `cond` holds; returns how long that took. */
  async until(cond: () => boolean, maxMs: number): Promise<number> {
    const start = this.clock.now();
    while (!cond()) {
      if (this.clock.now() - start > maxMs) throw new Error(`not within ${maxMs}ms; serving: ${this.holders().join(', ') || 'nobody'}`);
      await this.run(1);
    }
    return this.clock.now() - start;
  }
}

describe('VIP election on a simulated network', () => {
  it('elects the higher priority at start, once the voters have waited out one lease', async () => {
    const w = new World();
    w.start('lb-2');
    w.start('lb-1');
    const ms = await w.until(() => w.holders().length === 1, 2000);
    assert.deepEqual(w.holders(), ['lb-1']);
    assert.ok(ms >= LEASE && ms <= LEASE + HEARTBEAT + 10, `elected after ${ms}ms`);
    await w.run(3000);
    assert.deepEqual(w.holders(), ['lb-1'], 'stable');
    assert.deepEqual(w.violations, []);
  });

  it('the passive takes over within lease + heartbeat of a crash; the old active returns passive (preempt off)', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    await w.run(1234);
    await w.crash('lb-1');
    const gap = await w.until(() => w.holders().includes('lb-2'), 2000);
    // The voters' grants end a lease after lb-1's last renewal (up to a heartbeat before the
    // crash); lb-2 asks each voter right then, so the takeover costs one round trip more.
    assert.ok(gap >= LEASE - HEARTBEAT && gap <= LEASE + 4 * LATENCY + 2, `takeover after ${gap}ms`);
    assert.equal(w.candidates.get('lb-2')!.status().takeovers, 1);
    const tookOver = w.candidates.get('lb-2')!.status().lastTakeoverMs!;
    assert.ok(tookOver >= LEASE && tookOver <= LEASE + 4 * LATENCY + 2, `reported ${tookOver}ms (from lb-1's last renewal)`);
    w.revive('lb-1');
    await w.run(10_000);
    assert.deepEqual(w.holders(), ['lb-2'], 'no preemption');
    assert.equal(w.candidates.get('lb-1')!.status().state, 'passive');
    assert.match(w.candidates.get('lb-1')!.status().reason, /standing by: lb-2 holds the VIP/);
    assert.deepEqual(w.violations, []);
  });

  it('with preempt on, the returning higher priority takes the VIP back after preempt_delay, with a short gap', async () => {
    const w = new World();
    w.start('lb-2', { preempt: true });
    await w.until(() => w.holders().includes('lb-2'), 2000);
    w.start('lb-1', { preempt: true });
    await w.run(4500);
    assert.deepEqual(w.holders(), ['lb-2'], 'not before preempt_delay (5 s)');
    await w.until(() => !w.holders().includes('lb-2'), 1000);
    const gap = await w.until(() => w.holders().includes('lb-1'), 1000);
    assert.ok(gap <= HEARTBEAT + 4 * LATENCY, `hand-over gap ${gap}ms`);
    await w.run(5000);
    assert.deepEqual(w.holders(), ['lb-1']);
    assert.deepEqual(w.violations, []);
  });

  it('an active cut off from the voters lets go before the other can take over; after the heal it stays passive', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    await w.run(777);
    w.isolate('lb-1', true);
    const letGo = await w.until(() => !w.holders().includes('lb-1'), 2000);
    assert.ok(letGo <= LEASE, `released after ${letGo}ms`);
    assert.equal(w.candidates.get('lb-1')!.status().state, 'passive');
    assert.match(w.candidates.get('lb-1')!.status().reason, /lost the lease \(1 of 5 voters/);
    await w.until(() => w.holders().includes('lb-2'), 1000);
    w.isolate('lb-1', false);
    await w.run(5000);
    assert.deepEqual(w.holders(), ['lb-2']);
    assert.deepEqual(w.violations, []);
  });

  it('a restarted voter stays silent for one lease, so its forgotten grant cannot make a second majority', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    // lb-1 keeps a bare majority (lb-1, web-1, web-2); lb-2 gathers the other two votes.
    w.cuts.add('lb-1|lb-2');
    w.cuts.add('lb-1|mon-1');
    await w.run(LEASE + 2 * HEARTBEAT);
    assert.deepEqual(w.holders(), ['lb-1']);
    // web-1 restarts and loses its link to lb-1: it forgets its grant, which lb-1 still counts on.
    w.cuts.add('lb-1|web-1');
    w.restartVoter('web-1');
    await w.run(3 * LEASE);
    assert.deepEqual(w.violations, []);
    // lb-1's belief ran out first and it let go; then web-1 granted lb-2 its third vote.
    assert.deepEqual(w.holders(), ['lb-2']);
  });

  it('a split vote (2 to 2, no majority) does not last: the weaker lb stands back and the stronger is elected', async () => {
    const w = new World();
    // mon-1 is gone; web-1 and web-2 cannot hear lb-1, so they grant lb-2, while the lbs' own
    // voters grant lb-1 (it ranks higher): 2 grants each, 3 needed.
    w.isolate('mon-1', true);
    w.cuts.add('lb-1|web-1');
    w.cuts.add('lb-1|web-2');
    w.start('lb-1');
    w.start('lb-2');
    await w.run(3 * LEASE);
    assert.deepEqual(w.holders(), []);
    // The links heal, but each voter renews the grant it holds: without the stand-back nobody
    // would ever win.
    w.cuts.delete('lb-1|web-1');
    w.cuts.delete('lb-1|web-2');
    const ms = await w.until(() => w.holders().includes('lb-1'), 4 * LEASE);
    assert.ok(ms <= 3 * LEASE, `elected ${ms}ms after the heal`);
    await w.run(2000);
    assert.deepEqual(w.holders(), ['lb-1']);
    assert.deepEqual(w.violations, []);
  });

  it('voters restarting one by one while an lb is active grant it again: the passive gathers nothing and the VIP stays', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    await w.crash('lb-1');
    await w.until(() => w.holders().includes('lb-2'), 2000);
    // lb-1 comes back: it ranks higher, and its own voter starts afresh.
    w.revive('lb-1');
    await w.run(2 * LEASE);
    for (const v of ['web-1', 'web-2', 'mon-1']) {
      w.restartVoter(v);
      await w.run(2 * LEASE);
    }
    assert.deepEqual(w.holders(), ['lb-2']);
    // Every free grant went to the active: it keeps its lease with one more voter gone.
    assert.deepEqual(VOTERS.map((v) => w.books.get(v)!.holder()?.holder), VOTERS.map(() => 'lb-2'));
    w.isolate('mon-1', true);
    w.isolate('web-1', true);
    await w.run(5 * LEASE);
    assert.deepEqual(w.holders(), ['lb-2']);
    assert.equal(w.candidates.get('lb-2')!.status().takeovers, 1);
    assert.deepEqual(w.violations, []);
  });

  it('hands over on request (switchover) within two heartbeats', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    await w.run(500);
    const stepping = w.candidates.get('lb-1')!.stepDown('switchover requested');
    const gap = await w.until(() => w.holders().includes('lb-2'), 1000);
    assert.equal(await stepping, 'lb-2');
    assert.ok(gap <= 2 * HEARTBEAT, `switchover gap ${gap}ms`);
    await w.run(3000);
    assert.deepEqual(w.holders(), ['lb-2'], 'lb-1 stands back, then stays passive');
    await assert.rejects(w.candidates.get('lb-1')!.stepDown('again'), /does not hold the VIP/);
    assert.deepEqual(w.violations, []);
  });

  it('an unhealthy active hands the VIP to a healthy passive (after min_hold)', async () => {
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-1'), 2000);
    await w.run(2500);
    w.healthy.set('lb-1', false);
    const ms = await w.until(() => w.holders().includes('lb-2'), 1000);
    assert.ok(ms <= 2 * HEARTBEAT + 4 * LATENCY, `health hand-over after ${ms}ms`);
    w.healthy.set('lb-2', false);
    await w.run(5000);
    assert.deepEqual(w.holders(), ['lb-2'], 'both unhealthy: the holder keeps it');
    assert.deepEqual(w.violations, []);
  });

  it('an lb that cannot bind the VIP goes to fault, frees the lease at once, and the other takes over', async () => {
    const w = new World();
    w.broken.add('lb-1');
    w.start('lb-1');
    w.start('lb-2');
    await w.until(() => w.holders().includes('lb-2'), 3000);
    const st = w.candidates.get('lb-1')!.status();
    assert.match(w.hookRuns.join('\n'), /lb-1 fault: cannot serve the VIP sim: cannot listen on the VIP: address already in use/);
    assert.match(w.hookRuns.join('\n'), /lb-2 active: lease granted/);
    assert.ok(st.state === 'fault' || st.state === 'passive', st.state);
    w.broken.delete('lb-1');
    await w.run(5000);
    assert.deepEqual(w.holders(), ['lb-2'], 'lb-1 recovers to passive; no preemption');
    assert.equal(w.candidates.get('lb-1')!.status().state, 'passive');
    assert.deepEqual(w.violations, []);
  });

  it('survives a minute of random crashes, partitions, voter restarts and health flaps with never two holders', async () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const w = new World();
    w.start('lb-1');
    w.start('lb-2');
    const hosts = [...VOTERS];
    for (let i = 0; i < 120; i++) {
      const r = random();
      const host = hosts[Math.floor(random() * hosts.length)]!;
      if (r < 0.25) w.isolate(host, random() < 0.5);
      else if (r < 0.35 && (host === 'lb-1' || host === 'lb-2')) {
        if (w.candidates.has(host)) await w.crash(host);
        else w.revive(host);
      } else if (r < 0.45 && !host.startsWith('lb-')) w.restartVoter(host);
      else if (r < 0.55 && host.startsWith('lb-')) w.healthy.set(host, random() < 0.6);
      await w.run(Math.floor(random() * 900) + 50, 2);
    }
    assert.deepEqual(w.violations, []);
    // Heal everything: exactly one holder soon after.
    w.cuts.clear();
    for (const lb of ['lb-1', 'lb-2']) {
      w.healthy.set(lb, true);
      if (!w.candidates.has(lb)) w.revive(lb);
    }
    await w.until(() => w.holders().length === 1, 3 * LEASE);
    await w.run(2000);
    assert.equal(w.holders().length, 1);
    assert.deepEqual(w.violations, []);
  });
});
