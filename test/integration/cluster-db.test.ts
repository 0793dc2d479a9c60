/**
 * The database tier with real PostgreSQL, driven as a user would: `bulwark up` a cluster with two
 * db members in sync mode, write notes through the load balancer and the app, then kill the
 * primary, bring it back, switch over and partition a primary from the DCS — checking that no
 * acknowledged write is lost and that two writable primaries never exist at once.
 */
import path from 'node:path';
import { agentCall } from '../harness/agent-tls.js';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bulwark, tempCluster } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { eventually } from '../harness/eventually.js';
import { longestWriteGap, startWriters, verifyAcks, type Ack } from '../../src/cli/drill/writes.js';
import { EtcdProcess, ETCD_MISSING, etcdInstalled } from '../harness/etcd.js';

const AGENT = 17702;
const EDGE = 'http://127.0.5.100:18082';

/** Acknowledged writes that did not come back with their text (lost or unreadable). */
async function notReadBack(acks: readonly Ack[]): Promise<number[]> {
  const v = await verifyAcks(EDGE, acks);
  return [...v.lost, ...v.unverified].map((a) => a.id);
}
const MEMBERS = { 'db-1': '127.0.5.21', 'db-2': '127.0.5.22' } as const;
type Member = keyof typeof MEMBERS;

const yaml = (dcs = ''): string => stackYaml({
  cluster: 'db-test', net: '127.0.5', agentPort: AGENT, appPort: 13002, edgePort: 18082, pgPort: 15432, routerPorts: [16432, 16433], lbs: 1, database: dcs,
});

interface DbAgentStatus { db: { role: string; holdsLock: boolean; timeline: number; streamingFrom: string | null; fenced: { at: string } | null } }

/** The state folder of the cluster under test (its CA issues the admin certificate for agent calls). */
let stateDir = '';
const member = (m: Member): { address: string; agentPort: number } => ({ address: MEMBERS[m], agentPort: AGENT });

async function dbStatus(m: Member): Promise<DbAgentStatus['db'] | undefined> {
  const res = await agentCall<DbAgentStatus>(stateDir, member(m), 'GET', '/status', undefined, 1000).catch(() => undefined);
  if (res?.status !== 200) return undefined;
  return res.body.db;
}

const partition = (m: Member, body: { on: boolean; peers?: boolean }): Promise<{ status: number }> =>
  agentCall(stateDir, member(m), 'POST', '/debug/dcs-partition', body);

async function primary(): Promise<Member> {
  return eventually(async () => {
    const found: Member[] = [];
    for (const m of Object.keys(MEMBERS) as Member[]) {
      const s = await dbStatus(m);
      if (s?.role === 'primary' && s.holdsLock) found.push(m);
    }
    assert.equal(found.length, 1, `lock-holding primaries: ${found.join(', ') || 'none'}`);
    return found[0]!;
  }, { timeoutMs: 60_000, intervalMs: 100, message: 'waiting for exactly one primary' });
}

const other = (m: Member): Member => (m === 'db-1' ? 'db-2' : 'db-1');

async function streamingReplica(m: Member, from: Member): Promise<void> {
  await eventually(async () => {
    const s = await dbStatus(m);
    assert.equal(s?.role, 'replica');
    assert.equal(s?.streamingFrom, from);
  }, { timeoutMs: 60_000, intervalMs: 200, message: `${m} streaming from ${from}` });
}

/** The number of members answering /primary with 200 right now (must never exceed one). */
/**
 * The DCS records `m` as the sync standby: only then may it be promoted without loss (before, a
 * kill of the primary rightly leaves nobody promotable).
 */
async function syncStandbyIs(file: string, m: Member): Promise<void> {
  await eventually(async () => {
    const s = JSON.parse((await bulwark(['status', '--json', '-c', file])).stdout) as { database: { syncStandbys: string[] } };
    assert.deepEqual(s.database.syncStandbys, [m]);
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

async function writablePrimaries(): Promise<number> {
  let n = 0;
  for (const m of Object.keys(MEMBERS) as Member[]) {
    const res = await agentCall(stateDir, member(m), 'GET', '/primary', undefined, 500).catch(() => undefined);
    if (res?.status === 200) n++;
  }
  return n;
}

describe('database tier: PostgreSQL HA through the whole stack', { timeout: 300_000 }, () => {
  const c = tempCluster(yaml());
  stateDir = path.join(c.dir, 'state');
  const env = { BULWARK_FAULT_INJECTION: '1' };

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { env, timeoutMs: 150_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('bootstraps one primary and a streaming sync standby; writes go to the primary, reads to the replica', async (t) => {
    const p = await primary();
    await streamingReplica(other(p), p);
    const st = JSON.parse((await bulwark(['status', '--json', '-c', c.file])).stdout) as {
      database: { primary: string; mode: string; timeline: number; members: { name: string; role: string; sync: boolean; lagBytes: number | null }[] };
    };
    assert.equal(st.database.primary, p);
    assert.equal(st.database.mode, 'sync');
    await eventually(async () => {
      const s = JSON.parse((await bulwark(['status', '--json', '-c', c.file])).stdout) as typeof st;
      assert.equal(s.database.members.find((m) => m.name === other(p))?.sync, true, 'the replica is not a sync standby yet');
    }, { timeoutMs: 20_000, intervalMs: 250 });
    const w = await fetch(`${EDGE}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'first' }) });
    assert.equal(w.status, 201);
    const note = (await w.json()) as { id: number; db: string };
    assert.equal(note.db, p);
    await eventually(async () => {
      const r = (await (await fetch(`${EDGE}/api/notes?limit=5`)).json()) as { notes: { id: number }[]; db: string; replica: boolean };
      assert.equal(r.db, other(p), 'reads are not served by the replica');
      assert.equal(r.replica, true);
      assert.ok(r.notes.some((n) => n.id === note.id));
    }, { timeoutMs: 10_000 });
    const bad = await fetch(`${EDGE}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text": 5}' });
    assert.equal(bad.status, 400);
    t.diagnostic(`primary ${p}, replica ${other(p)}`);
  });

  it('kill -9 of the primary under writes: zero acknowledged writes lost; the old primary rejoins', async (t) => {
    const p = await primary();
    await streamingReplica(other(p), p);
    await syncStandbyIs(c.file, other(p));
    const writer = startWriters(EDGE, { writers: 1, paceMs: 10, maxMs: 90_000, tag: 'cluster-db' });
    await eventually(() => assert.ok(writer.acks.length > 50), { timeoutMs: 20_000 });
    const killed = await bulwark(['kill', p, '-c', c.file]);
    assert.equal(killed.code, 0, killed.stderr);
    const newPrimary = await primary();
    assert.equal(newPrimary, other(p));
    const okAfter = writer.acks.length;
    await eventually(() => assert.ok(writer.acks.length > okAfter + 50), { timeoutMs: 30_000, message: 'writes did not resume' });
    // The old primary comes back and must rejoin as a replica of the new one.
    const restartedAt = Date.now();
    assert.equal((await bulwark(['start', p, '-c', c.file])).code, 0);
    await streamingReplica(p, newPrimary);
    const rejoinMs = Date.now() - restartedAt;
    assert.ok((await writablePrimaries()) <= 1);
    await writer.stop();
    const lost = await notReadBack(writer.acks);
    t.diagnostic(`acked ${writer.acks.length}, failed ${writer.failures.length}, longest write gap ${longestWriteGap(writer.acks)} ms, rejoin ${rejoinMs} ms`);
    assert.deepEqual(lost, [], 'acknowledged writes were lost');
    assert.ok(longestWriteGap(writer.acks) < 10_000, `write gap ${longestWriteGap(writer.acks)} ms`);
  });

  it('switchover under writes: a new primary within about a second, nothing lost', async (t) => {
    const p = await primary();
    await streamingReplica(other(p), p);
    await syncStandbyIs(c.file, other(p));
    const writer = startWriters(EDGE, { writers: 1, paceMs: 10, maxMs: 60_000, tag: 'cluster-db' });
    await eventually(() => assert.ok(writer.acks.length > 30), { timeoutMs: 20_000 });
    const sw = await bulwark(['switchover', '--to', other(p), '-c', c.file]);
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    assert.match(sw.stdout, new RegExp(`${p} → ${other(p)}`));
    const okAfter = writer.acks.length;
    await eventually(() => assert.ok(writer.acks.length > okAfter + 30), { timeoutMs: 20_000 });
    await streamingReplica(p, other(p));
    await writer.stop();
    const lost = await notReadBack(writer.acks);
    t.diagnostic(`switchover: ${sw.stdout.trim()}; longest write gap ${longestWriteGap(writer.acks)} ms, failed ${writer.failures.length}`);
    assert.deepEqual(lost, []);
    assert.ok(longestWriteGap(writer.acks) < 5_000, `write gap ${longestWriteGap(writer.acks)} ms`);
  });

  it('failsafe: a primary cut off from the DCS but reaching every member keeps serving; nobody promotes', async (t) => {
    const p = await primary();
    await streamingReplica(other(p), p);
    const writer = startWriters(EDGE, { writers: 1, paceMs: 20, maxMs: 60_000, tag: 'cluster-db' });
    const cut = await partition(p, { on: true });
    assert.equal(cut.status, 200);
    const before = writer.acks.length;
    // Three TTLs: long enough for any lock to have expired and any replica to have promoted.
    const end = Date.now() + 9_000;
    while (Date.now() < end) {
      assert.ok((await writablePrimaries()) <= 1, 'two writable primaries');
      const s = await dbStatus(other(p));
      assert.notEqual(s?.role, 'primary', `${other(p)} promoted while ${p} was alive in failsafe mode`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(writer.acks.length > before + 50, 'writes stopped during the DCS partition');
    await partition(p, { on: false });
    assert.equal(await primary(), p);
    await writer.stop();
    assert.deepEqual(await notReadBack(writer.acks), []);
    t.diagnostic(`failsafe held for 9 s: ${writer.acks.length} writes acknowledged, ${writer.failures.length} failed`);
    assert.ok(writer.failures.length <= 5, `${writer.failures.length} writes failed while the primary served in failsafe mode`);
  });

  it('a primary whose host is cut off (DCS and peers) fences itself before the other member promotes', async (t) => {
    const p = await primary();
    await streamingReplica(other(p), p);
    const cut = await partition(p, { on: true, peers: true });
    assert.equal(cut.status, 200);
    // Poll fast: at no moment may both members answer /primary.
    let sawTwo = false;
    const watch = (async () => {
      const end = Date.now() + 15_000;
      while (Date.now() < end) {
        if ((await writablePrimaries()) > 1) sawTwo = true;
        const s = await dbStatus(other(p));
        if (s?.role === 'primary' && s.holdsLock) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await watch;
    const promotedAt = Date.now();
    const fenced = (await dbStatus(p))?.fenced;
    assert.ok(fenced, `${p} did not fence`);
    assert.ok(Date.parse(fenced.at) < promotedAt, 'fenced after the other member promoted');
    assert.equal(sawTwo, false, 'two members answered /primary at the same time');
    t.diagnostic(`${p} fenced at ${fenced.at}; ${other(p)} primary by ${new Date(promotedAt).toISOString()}`);
    // Heal: the old primary rejoins as a replica.
    await partition(p, { on: false });
    await streamingReplica(p, other(p));
  });
});

describe('database tier on etcd: bootstrap and failover with the multi-machine DCS', { timeout: 240_000 }, () => {
  let etcd: EtcdProcess | undefined;
  let c: ReturnType<typeof tempCluster> | undefined;

  before(async () => {
    if (!etcdInstalled()) {
      if (process.env['CI'] === 'true') throw new Error(ETCD_MISSING);
      console.warn(`SKIPPING the etcd database test: ${ETCD_MISSING}`);
      return;
    }
    etcd = await EtcdProcess.start();
    c = tempCluster(yaml(`  dcs: { type: etcd, endpoints: ["${etcd.endpoint.replace(/^https?:\/\//, '')}"] }\n`));
    stateDir = path.join(c.dir, 'state');
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    if (c) await bulwark(['down', '-c', c.file]);
    c?.cleanup();
    await etcd?.stop();
  });

  it('kill -9 of the primary: the replica takes over through etcd, nothing acknowledged is lost', async (t) => {
    if (!etcd) return t.skip(ETCD_MISSING);
    const p = await primary();
    await streamingReplica(other(p), p);
    await syncStandbyIs(c!.file, other(p));
    const writer = startWriters(EDGE, { writers: 1, paceMs: 10, maxMs: 90_000, tag: 'cluster-db' });
    await eventually(() => assert.ok(writer.acks.length > 50), { timeoutMs: 30_000 });
    assert.equal((await bulwark(['kill', p, '-c', c!.file])).code, 0);
    assert.equal(await primary(), other(p));
    const okAfter = writer.acks.length;
    await eventually(() => assert.ok(writer.acks.length > okAfter + 50), { timeoutMs: 30_000 });
    assert.equal((await bulwark(['start', p, '-c', c!.file])).code, 0);
    await streamingReplica(p, other(p));
    await writer.stop();
    t.diagnostic(`etcd: acked ${writer.acks.length}, longest write gap ${longestWriteGap(writer.acks)} ms`);
    assert.deepEqual(await notReadBack(writer.acks), []);
  });
});
