/**
 * The DCS contract (src/control-plane/pg-ha/dcs/types.ts), clause by clause, as one suite that
 * every backend runs (not a test file itself): the embedded store in-process with a manual clock,
 * the embedded store over HTTP, and a real etcd.
 *
 * Time: a backend on a manual clock passes `advance`; the others run in real time, where expiry
 * is awaited by polling (eventually), never by a sleep sized to "surely enough", and the only
 * pauses are the renew cadence that a real TTL forces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DcsUnavailableError, type Dcs } from '../../src/control-plane/pg-ha/dcs/index.js';
import { eventually } from '../harness/eventually.js';

export interface DcsPair {
  readonly dcs: Dcs;
  /** A second client on the same store. */
  readonly other: Dcs;
  cleanup(): Promise<void>;
  /** For manual-clock backends: move the store's (and clients') clock, firing what falls due. */
  readonly advance?: (ms: number) => Promise<void>;
  /** Make the store unreachable (stop it). Asked for with make({ dedicated: true }). */
  readonly stop?: () => Promise<void>;
  /** The clients' per-call timeout (default 2000 ms). */
  readonly timeoutMs?: number;
}

export interface MakeOptions {
  /** The pair gets a store of its own that the test may stop. */
  readonly dedicated?: boolean;
}

export type MakePair = (opts?: MakeOptions) => Promise<DcsPair>;

const PROMPT_MS = 500;

function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fail (instead of hanging) when p has not settled within ms of real time. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Track whether a promise settled, without awaiting it. */
function track<T>(p: Promise<T>): { readonly settled: boolean; readonly rejected: boolean } {
  const state = { settled: false, rejected: false };
  p.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
      state.rejected = true;
    },
  );
  return state;
}

export function dcsContract(name: string, make: MakePair): void {
  /** Run a test body on a fresh pair and always clean up. */
  const withPair = async (fn: (p: DcsPair) => Promise<void>, opts?: MakeOptions): Promise<void> => {
    const p = await make(opts);
    try {
      await fn(p);
    } finally {
      await p.cleanup();
    }
  };
  /** After ttl has run out: manual clock → advance exactly; real → poll until check passes. */
  const afterExpiry = async (p: DcsPair, ttl: number, check: () => Promise<void>, what: string): Promise<void> => {
    if (p.advance) {
      await p.advance(ttl);
      await check();
    } else {
      await eventually(check, { timeoutMs: ttl + 4000, intervalMs: 50, message: what });
    }
  };
  const shortTtl = (p: DcsPair): number => p.dcs.minTtlMs;
  const longTtl = (p: DcsPair): number => Math.max(p.dcs.minTtlMs, 10_000);

  describe(name, () => {
    it('describes itself and its minimum TTL', async () => {
      await withPair(async ({ dcs }) => {
        assert.ok(dcs.description.length > 0);
        assert.ok(dcs.minTtlMs > 0 && Number.isFinite(dcs.minTtlMs));
        const view = await dcs.read();
        assert.equal(view.leader, undefined);
        assert.deepEqual(view.members, []);
        assert.deepEqual(view.docs, {});
      });
    });

    it('leader race: of 10 concurrent acquires from two clients exactly one wins', async () => {
      await withPair(async (p) => {
        const ttl = longTtl(p);
        const names = Array.from({ length: 10 }, (_, i) => `cand-${i}`);
        const results = await Promise.all(names.map((n, i) => (i % 2 === 0 ? p.dcs : p.other).acquireLeader(n, ttl)));
        const winners = names.filter((_, i) => results[i]);
        assert.equal(winners.length, 1, `winners: ${winners.join(', ') || 'none'}`);
        const view = await p.other.read();
        assert.equal(view.leader?.holder, winners[0]);
        assert.ok(typeof view.leader.version === 'string' && view.leader.version.length > 0);
        assert.ok(view.leader.ttlMs >= ttl && view.leader.ttlMs < ttl + 1000, `ttlMs ${view.leader.ttlMs} for ${ttl}`);
        // Create-only: a held lock is not acquired again, not even by its holder.
        assert.equal(await p.dcs.acquireLeader(winners[0]!, ttl), false);
        assert.equal(await p.other.acquireLeader('latecomer', ttl), false);
        assert.equal((await p.dcs.read()).leader?.version, view.leader.version);
      });
    });

    it('a TTL under the minimum is rounded up to it', async () => {
      await withPair(async (p) => {
        assert.equal(await p.dcs.acquireLeader('a', 1), true);
        const lock = (await p.other.read()).leader;
        assert.equal(lock?.holder, 'a');
        assert.equal(lock.ttlMs, p.dcs.minTtlMs);
      });
    });

    it('renew: true for the holder (by name, from any client), false for anyone else, who changes nothing', async () => {
      await withPair(async (p) => {
        const ttl = longTtl(p);
        assert.equal(await p.dcs.acquireLeader('a', ttl), true);
        const before = (await p.dcs.read()).leader;
        assert.equal(await p.dcs.renewLeader('a', ttl), true);
        assert.equal(await p.other.renewLeader('b', ttl), false);
        assert.equal(await p.dcs.renewLeader('b', ttl), false);
        const after = (await p.other.read()).leader;
        assert.equal(after?.holder, 'a');
        assert.ok(before && after.ttlMs === before.ttlMs);
        assert.equal(await p.other.renewLeader('a', ttl), true, 'the lock belongs to a name, not to a client');
        // A renew may change the TTL.
        const longer = ttl * 2;
        assert.equal(await p.dcs.renewLeader('a', longer), true);
        const changed = (await p.dcs.read()).leader;
        assert.equal(changed?.holder, 'a');
        assert.ok(changed.ttlMs >= longer, `ttlMs ${changed.ttlMs} after renewing at ${longer}`);
      });
    });

    it('renew never creates the lock', async () => {
      await withPair(async (p) => {
        assert.equal(await p.dcs.renewLeader('a', longTtl(p)), false);
        assert.equal((await p.other.read()).leader, undefined);
      });
    });

    it('renewals keep the lock past its TTL; without them it expires after the TTL, not before', async (t) => {
      await withPair(async (p) => {
        const ttl = shortTtl(p);
        assert.equal(await p.dcs.acquireLeader('a', ttl), true);
        if (p.advance) {
          await p.advance(Math.floor(ttl * 0.6));
          assert.equal(await p.dcs.renewLeader('a', ttl), true);
          await p.advance(Math.floor(ttl * 0.6));
          assert.equal((await p.other.read()).leader?.holder, 'a', 'renewed lock gone before its TTL');
          assert.equal(await p.dcs.renewLeader('a', ttl), true);
          await p.advance(ttl - 1);
          assert.equal((await p.other.read()).leader?.holder, 'a', 'lock gone 1 ms before its TTL');
          await p.advance(1);
          assert.equal((await p.other.read()).leader, undefined, 'lock still there at its TTL');
          return;
        }
        const started = Date.now();
        let lastRenew = Date.now();
        while (Date.now() - started < ttl * 1.5) {
          await realSleep(ttl / 4);
          const before = Date.now();
          assert.equal(await p.dcs.renewLeader('a', ttl), true, `renew failed ${before - started} ms after acquire`);
          lastRenew = before;
          assert.equal((await p.other.read()).leader?.holder, 'a');
        }
        await eventually(
          async () => assert.equal((await p.other.read()).leader, undefined),
          { timeoutMs: ttl + 4000, intervalMs: 25, message: 'lock did not expire' },
        );
        const gone = Date.now() - lastRenew;
        t.diagnostic(`lock (ttl ${ttl} ms) seen gone ${gone} ms after the last renewal`);
        assert.ok(gone >= ttl - 10, `lock expired ${gone} ms after the last renewal, before its TTL of ${ttl} ms`);
      });
    });

    it('after expiry, renew returns false and does not recreate the lock', async () => {
      await withPair(async (p) => {
        const ttl = shortTtl(p);
        assert.equal(await p.dcs.acquireLeader('a', ttl), true);
        await afterExpiry(p, ttl, async () => assert.equal((await p.other.read()).leader, undefined), 'lock did not expire');
        assert.equal(await p.dcs.renewLeader('a', ttl), false);
        assert.equal((await p.other.read()).leader, undefined);
        assert.equal(await p.other.acquireLeader('b', longTtl(p)), true, 'an expired lock is free to take');
      });
    });

    it('release: only by the holder; then anyone can acquire at once', async () => {
      await withPair(async (p) => {
        const ttl = longTtl(p);
        assert.equal(await p.dcs.acquireLeader('a', ttl), true);
        assert.equal(await p.other.releaseLeader('b'), false);
        assert.equal((await p.dcs.read()).leader?.holder, 'a');
        assert.equal(await p.dcs.releaseLeader('a'), true);
        assert.equal((await p.other.read()).leader, undefined);
        assert.equal(await p.dcs.releaseLeader('a'), false, 'nothing left to release');
        assert.equal(await p.other.acquireLeader('b', ttl), true);
        assert.equal(await p.dcs.releaseLeader('a'), false, 'a cannot release b');
        assert.equal((await p.dcs.read()).leader?.holder, 'b');
      });
    });

    it('members: live ones sorted by name, data round-trips, last write wins, delete removes', async () => {
      await withPair(async (p) => {
        const ttl = longTtl(p);
        await p.dcs.touchMember('db-2', { role: 'replica', lag: 0 }, ttl);
        await p.other.touchMember('db-1', { role: 'primary', timeline: 3, tags: { nofailover: false } }, ttl);
        await p.other.touchMember('db-10', { role: 'replica' }, ttl);
        let view = await p.dcs.read();
        assert.deepEqual(
          view.members.map((m) => m.name),
          ['db-1', 'db-10', 'db-2'],
        );
        assert.deepEqual(view.members[0]?.data, { role: 'primary', timeline: 3, tags: { nofailover: false } });
        await p.dcs.touchMember('db-2', { role: 'replica', lag: 4096 }, ttl);
        await p.dcs.touchMember('db-2', { role: 'replica', lag: 4096 }, ttl); // unchanged data: still fine
        view = await p.other.read();
        assert.deepEqual(view.members.find((m) => m.name === 'db-2')?.data, { role: 'replica', lag: 4096 });
        await p.other.deleteMember('db-10');
        await p.other.deleteMember('db-404'); // absent: no error
        view = await p.dcs.read();
        assert.deepEqual(
          view.members.map((m) => m.name),
          ['db-1', 'db-2'],
        );
      });
    });

    it('members expire unless touched', async () => {
      await withPair(async (p) => {
        const ttl = shortTtl(p);
        await p.dcs.touchMember('alive', { n: 0 }, ttl);
        await p.other.touchMember('dying', { n: 0 }, ttl);
        if (p.advance) {
          await p.advance(Math.floor(ttl * 0.6));
          await p.dcs.touchMember('alive', { n: 1 }, ttl);
          await p.advance(Math.ceil(ttl * 0.4));
          assert.deepEqual((await p.other.read()).members.map((m) => m.name), ['alive']);
          await p.advance(ttl);
          assert.deepEqual((await p.other.read()).members, []);
          return;
        }
        // Keep touching "alive" at a quarter of the TTL until "dying" is gone.
        const deadline = Date.now() + ttl + 4000;
        let names: string[] = [];
        for (let n = 1; ; n++) {
          await p.dcs.touchMember('alive', { n }, ttl);
          names = (await p.other.read()).members.map((m) => m.name);
          if (!names.includes('dying') || Date.now() > deadline) break;
          await realSleep(ttl / 4);
        }
        assert.deepEqual(names, ['alive'], 'the untouched member did not expire');
        await eventually(async () => assert.deepEqual((await p.other.read()).members, []), {
          timeoutMs: ttl + 4000,
          intervalMs: 50,
          message: 'member did not expire',
        });
      });
    });

    it('setDoc: create-only with null, compare-and-set with a version, unconditional without', async () => {
      await withPair(async (p) => {
        assert.equal(await p.dcs.setDoc('sync', { leader: 'a', standby: 'b' }, null), true);
        assert.equal(await p.other.setDoc('sync', { leader: 'x' }, null), false, 'create-only on an existing doc');
        const v1 = (await p.other.read()).docs.sync;
        assert.deepEqual(v1?.value, { leader: 'a', standby: 'b' });
        assert.ok(typeof v1.version === 'string' && v1.version.length > 0);
        assert.equal(await p.other.setDoc('sync', { leader: 'a', standby: 'c' }, v1.version), true);
        const v2 = (await p.dcs.read()).docs.sync;
        assert.notEqual(v2?.version, v1.version, 'a write changes the version');
        assert.equal(await p.dcs.setDoc('sync', { leader: 'stale' }, v1.version), false, 'a stale version must fail');
        assert.equal(await p.dcs.setDoc('sync', { leader: 'junk' }, 'not-a-version'), false);
        assert.equal(await p.dcs.setDoc('sync', { leader: 'zero' }, '0'), false);
        assert.deepEqual((await p.other.read()).docs.sync?.value, { leader: 'a', standby: 'c' });
        assert.equal(await p.dcs.setDoc('sync', { leader: 'forced' }), true);
        const v3 = (await p.other.read()).docs.sync;
        assert.deepEqual(v3?.value, { leader: 'forced' });
        assert.notEqual(v3.version, v2?.version);
        // A version only matches an existing doc; other doc keys are independent.
        assert.equal(await p.dcs.setDoc('failover', { to: 'b' }, v3.version), false);
        assert.equal(await p.dcs.setDoc('failover', 'plain string is JSON too'), true);
        assert.equal(await p.dcs.setDoc('history', [[1, 0, 'no recovery target']], null), true);
        const docs = (await p.other.read()).docs;
        assert.deepEqual(Object.keys(docs).sort(), ['failover', 'history', 'sync']);
        assert.equal(docs.failover?.value, 'plain string is JSON too');
        assert.deepEqual(docs.history?.value, [[1, 0, 'no recovery target']]);
        await assert.rejects(p.dcs.setDoc('bogus' as 'sync', 1), TypeError);
      });
    });

    it('deleteDoc: only on a matching version when one is given', async () => {
      await withPair(async (p) => {
        assert.equal(await p.dcs.deleteDoc('failover'), false, 'absent');
        assert.equal(await p.dcs.setDoc('failover', { to: 'db-2' }), true);
        const v1 = (await p.dcs.read()).docs.failover!.version;
        assert.equal(await p.other.setDoc('failover', { to: 'db-3' }, v1), true);
        assert.equal(await p.dcs.deleteDoc('failover', v1), false, 'stale version');
        assert.ok((await p.other.read()).docs.failover);
        const v2 = (await p.dcs.read()).docs.failover!.version;
        assert.equal(await p.other.deleteDoc('failover', v2), true);
        assert.equal((await p.dcs.read()).docs.failover, undefined);
        assert.equal(await p.other.deleteDoc('failover', v2), false, 'already gone');
        assert.equal(await p.dcs.setDoc('config', { ttl: 10 }), true);
        assert.equal(await p.other.deleteDoc('config'), true, 'unconditional');
        assert.equal((await p.dcs.read()).docs.config, undefined);
      });
    });

    it('read is one consistent snapshot while another client writes', async () => {
      await withPair(async (p) => {
        const ttl = longTtl(p);
        // The writer always writes the doc first, then the member: a snapshot can show the member
        // one step behind the doc, never ahead and never further behind.
        await p.other.setDoc('sync', { i: 0 });
        await p.other.touchMember('m', { i: 0 }, ttl);
        let writing = true;
        const writer = (async () => {
          for (let i = 1; i <= 25; i++) {
            await p.other.setDoc('sync', { i });
            await p.other.touchMember('m', { i }, ttl);
          }
          writing = false;
        })();
        let reads = 0;
        while (writing) {
          const view = await p.dcs.read();
          const doc = (view.docs.sync?.value as { i: number }).i;
          const member = view.members.find((m) => m.name === 'm')?.data.i as number;
          assert.ok(member === doc || member === doc - 1, `torn read: doc ${doc}, member ${member}`);
          reads++;
        }
        await writer;
        assert.ok(reads > 0);
      });
    });

    it('waitForChange wakes promptly on a change by another client (a doc write, a release)', async (t) => {
      await withPair(async (p) => {
        await p.dcs.read();
        const w1 = p.dcs.waitForChange(10_000);
        const t1 = performance.now();
        await p.other.setDoc('config', { n: 1 });
        await within(w1, PROMPT_MS, 'waiter after a doc write');
        const docMs = performance.now() - t1;

        assert.equal(await p.other.acquireLeader('a', longTtl(p)), true);
        await p.dcs.read();
        const w2 = p.dcs.waitForChange(10_000);
        const t2 = performance.now();
        assert.equal(await p.other.releaseLeader('a'), true);
        await within(w2, PROMPT_MS, 'waiter after a release');
        const releaseMs = performance.now() - t2;
        assert.equal((await p.dcs.read()).leader, undefined);
        t.diagnostic(`waiter woke ${docMs.toFixed(1)} ms after a doc write began, ${releaseMs.toFixed(1)} ms after a release began`);
      });
    });

    it('waitForChange wakes when a lock expires', async (t) => {
      await withPair(async (p) => {
        const ttl = shortTtl(p);
        assert.equal(await p.other.acquireLeader('a', ttl), true);
        const acquired = performance.now();
        await p.dcs.read();
        const w = p.dcs.waitForChange(ttl + 10_000);
        const state = track(w);
        if (p.advance) {
          await p.advance(ttl - 1);
          await flush();
          assert.equal(state.settled, false, 'woke before the lock expired');
          await p.advance(1);
          await within(w, PROMPT_MS, 'waiter after expiry');
        } else {
          await within(w, ttl + 5000, 'waiter after expiry');
          const ms = performance.now() - acquired;
          t.diagnostic(`waiter saw the ${ttl} ms lock expire ${ms.toFixed(0)} ms after it was acquired`);
          assert.ok(ms >= ttl - 100, `woke after ${ms} ms, before the TTL`);
        }
        assert.equal((await p.dcs.read()).leader, undefined);
      });
    });

    it('waitForChange resolves after its timeout when nothing changes', async () => {
      await withPair(async (p) => {
        await p.dcs.read();
        if (p.advance) {
          const w = p.dcs.waitForChange(1000);
          const state = track(w);
          await p.advance(999);
          await flush();
          assert.equal(state.settled, false, 'resolved before its timeout');
          await p.advance(1);
          await within(w, PROMPT_MS, 'waiter at its timeout');
          return;
        }
        const started = performance.now();
        await within(p.dcs.waitForChange(400), 400 + 1000, 'waiter at its timeout');
        const ms = performance.now() - started;
        assert.ok(ms >= 390, `resolved after ${ms} ms, before its 400 ms timeout`);
      });
    });

    it('a stopped store: calls reject with DcsUnavailableError within the timeout; waitForChange waits it out', async (t) => {
      await withPair(
        async (p) => {
          if (!p.stop) {
            t.skip('this backend cannot stop its store');
            return;
          }
          assert.equal(await p.dcs.acquireLeader('a', longTtl(p)), true);
          await p.dcs.touchMember('a', {}, longTtl(p));
          await p.stop();
          const bound = (p.timeoutMs ?? 2000) + 1000;
          const calls: [string, () => Promise<unknown>][] = [
            ['read', () => p.dcs.read()],
            ['acquireLeader', () => p.other.acquireLeader('b', 5000)],
            ['renewLeader', () => p.dcs.renewLeader('a', 5000)],
            ['releaseLeader', () => p.dcs.releaseLeader('a')],
            ['touchMember', () => p.dcs.touchMember('a', { x: 1 }, 5000)],
            ['deleteMember', () => p.dcs.deleteMember('a')],
            ['setDoc', () => p.dcs.setDoc('sync', {}, null)],
            ['deleteDoc', () => p.dcs.deleteDoc('sync')],
          ];
          const times: string[] = [];
          for (const [what, call] of calls) {
            const started = performance.now();
            await within(
              assert.rejects(call(), (err: unknown) => {
                assert.ok(err instanceof DcsUnavailableError, `${what}: expected DcsUnavailableError, got ${String(err)}`);
                return true;
              }),
              bound,
              `${what} on a stopped store`,
            );
            times.push(`${what} ${(performance.now() - started).toFixed(0)} ms`);
          }
          t.diagnostic(`against a stopped store: ${times.join(', ')}`);
          const started = performance.now();
          const w = p.dcs.waitForChange(300);
          const state = track(w);
          if (p.advance) {
            await flush();
            assert.equal(state.settled, false, 'waitForChange returned at once on a stopped store');
            await p.advance(300);
          }
          await within(w, 300 + bound, 'waitForChange on a stopped store');
          assert.equal(state.rejected, false);
          if (!p.advance) {
            const ms = performance.now() - started;
            assert.ok(ms >= 290, `waitForChange returned after ${ms} ms instead of waiting out its 300 ms`);
          }
        },
        { dedicated: true },
      );
    });

    it('a closed client resolves its pending waits and refuses calls', async () => {
      await withPair(async (p) => {
        await p.dcs.read();
        const w = p.dcs.waitForChange(60_000);
        await p.dcs.close();
        await within(w, PROMPT_MS, 'pending wait after close');
        await assert.rejects(p.dcs.read(), DcsUnavailableError);
        // The other client is unaffected.
        assert.equal(await p.other.acquireLeader('b', longTtl(p)), true);
      });
    });
  });
}
