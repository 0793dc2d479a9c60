/**
 * A replica added to and removed from a running cluster by editing the file and `bulwark reload`
 * (issue 8, item 2), under a write and read load through the edge, in sync mode: the new member
 * clones, streams and serves reads; removed, it leaves the sync set before it stops and its slot
 * goes. No failed request, no acknowledged write lost, no other node or PostgreSQL restarted.
 * Loopback 127.0.16.x.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { agentCall } from '../harness/agent-tls.js';
import { bulwark, tempCluster } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { eventually } from '../harness/eventually.js';
import { startLoad } from '../harness/load.js';
import { countReasons, startWriters, verifyAcks } from '../../src/cli/drill/writes.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const AGENT = 17716;
const PG_PORT = 15446;
const EDGE = 'http://127.0.16.100:18096';
const DB = { 'db-1': '127.0.16.21', 'db-2': '127.0.16.22', 'db-3': '127.0.16.23' } as const;
type Db = keyof typeof DB;

// The superuser over a member's socket is peer-authenticated as the agent's OS user (root here).
const skip = skipUnlessCi(missing({ root: true, why: 'adding and removing a db member (reads pg_stat_replication as the superuser)' }), 'cluster-db-members');

const yaml = (withDb3: boolean): string => stackYaml({
  cluster: 'db-members', net: '127.0.16', agentPort: AGENT, appPort: 13016, edgePort: 18096, pgPort: PG_PORT, routerPorts: [16446, 16447],
  lbs: 1, dbs: withDb3 ? ['db-1', 'db-2', 'db-3'] : ['db-1', 'db-2'],
});

interface Status {
  nodes: { name: string; pid?: number }[];
  database: { primary: string | null; syncStandbys: string[]; members: { name: string; role: string; streamingFrom: string | null }[] };
}

describe('database members added and removed by bulwark reload', { skip, timeout: 240_000 }, () => {
  const c = tempCluster(yaml(false));
  const stateDir = path.join(c.dir, 'state');
  const status = async (): Promise<Status> => JSON.parse((await bulwark(['status', '--json', '-c', c.file])).stdout) as Status;
  const superuser = async <R extends pg.QueryResultRow>(m: Db, sql: string): Promise<R[]> => {
    const client = new pg.Client({ host: path.join(stateDir, 'nodes', m, 'pg', 'run'), port: PG_PORT, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const postmasterPid = (m: Db): number => Number(fs.readFileSync(path.join(stateDir, 'nodes', m, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = async (): Promise<Record<string, number | undefined>> => {
    const st = await status();
    return { ...Object.fromEntries(st.nodes.map((n) => [n.name, n.pid])), 'pg db-1': postmasterPid('db-1'), 'pg db-2': postmasterPid('db-2') };
  };
  let primary: Db;
  let replica: Db;

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    // A primary and its sync standby (promotable without loss) before anything changes.
    [primary, replica] = await eventually(async () => {
      const st = await status();
      const p = st.database.primary as Db | null;
      assert.ok(p === 'db-1' || p === 'db-2', `primary: ${p}`);
      const other: Db = p === 'db-1' ? 'db-2' : 'db-1';
      assert.deepEqual(st.database.syncStandbys, [other]);
      return [p, other] as const;
    }, { timeoutMs: 90_000, intervalMs: 250, message: 'waiting for a primary and a sync standby' });
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('db-3 added: clones, streams, serves reads; removed: out of the sync set, stopped, slot dropped; nothing failed or lost', async () => {
    const before = await pids();
    assert.equal(Object.values(before).filter((p) => typeof p === 'number' && p > 0).length, 8, JSON.stringify(before));
    const writer = startWriters(EDGE, { writers: 2, paceMs: 0, maxMs: 150_000, tag: 'members' });
    const reads = startLoad(`${EDGE}/api/notes?limit=5`, { concurrency: 2, maxMs: 150_000 });
    try {
      await eventually(() => assert.ok(writer.acks.length > 50 && reads.result.ok > 50));

      // ── Add db-3 ───────────────────────────────────────────────────────────────────────────
      fs.writeFileSync(c.file, yaml(true));
      const add = await bulwark(['reload', '-c', c.file], { timeoutMs: 90_000 });
      assert.equal(add.code, 0, add.stdout + add.stderr);
      assert.match(add.stdout, new RegExp(`${primary}: .*database members added db-3: pg_hba reloaded, HA loop has 3 member\\(s\\)`));
      assert.match(add.stdout, /web-1: .*db router: 3 member/);
      assert.match(add.stdout, /db-3: new in the file: started/);
      // The primary admits db-3's address for replication (pg_hba reloaded, not restarted).
      const hba = await superuser<{ address: string; database: string[] }>(primary, 'SELECT address, database FROM pg_hba_file_rules WHERE address IS NOT NULL');
      assert.ok(hba.some((h) => h.address === DB['db-3'] && h.database.includes('replication')), JSON.stringify(hba));
      await eventually(async () => {
        const rows = await superuser<{ name: string; state: string; slot: string | null }>(primary,
          `SELECT r.application_name AS name, r.state, s.slot_name AS slot FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid`);
        assert.deepEqual(rows.find((x) => x.name === 'db-3'), { name: 'db-3', state: 'streaming', slot: 'db_3' });
        const st = await status();
        assert.deepEqual(st.database.members.find((m) => m.name === 'db-3')?.streamingFrom, primary);
      }, { timeoutMs: 60_000, intervalMs: 250, message: 'db-3 streaming from the primary over its slot' });
      // Both web routers send reads to it once its /replica says so.
      const replicaCheck = await agentCall(stateDir, { address: DB['db-3'], agentPort: AGENT }, 'GET', '/replica');
      assert.equal(replicaCheck.status, 200, JSON.stringify(replicaCheck.body));
      await eventually(async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const r = (await (await fetch(`${EDGE}/api/notes?limit=1`)).json()) as { db: string; node: string };
          if (r.db === 'db-3') seen.add(r.node);
        }
        assert.deepEqual([...seen].sort(), ['web-1', 'web-2']);
      }, { timeoutMs: 30_000, intervalMs: 100, message: 'reads served by db-3 through both web nodes' });
      // Sync mode adds it to the sync set (DCS first, then PostgreSQL) once it streams.
      await eventually(async () => assert.deepEqual([...(await status()).database.syncStandbys].sort(), [replica, 'db-3'].sort()),
        { timeoutMs: 20_000, intervalMs: 250 });

      // ── Remove db-3 (a replica and a sync standby) ─────────────────────────────────────────
      const acked = writer.acks.length;
      fs.writeFileSync(c.file, yaml(false));
      const remove = await bulwark(['reload', '-c', c.file], { timeoutMs: 90_000 });
      assert.equal(remove.code, 0, remove.stdout + remove.stderr);
      assert.match(remove.stdout, new RegExp(`${primary}: .*removed db-3.*db-3 out of the sync set \\(now: ${replica}\\)`));
      assert.match(remove.stdout, /db-3: no longer in the file: stopped/);
      await eventually(async () => {
        const slots = await superuser<{ slot_name: string }>(primary, 'SELECT slot_name FROM pg_replication_slots');
        assert.deepEqual(slots.map((s) => s.slot_name), [replica.replace('-', '_')]);
      }, { timeoutMs: 10_000, intervalMs: 200, message: "db-3's slot dropped on the primary, the other kept" });
      const st = await status();
      assert.deepEqual(st.database.members.map((m) => m.name).sort(), ['db-1', 'db-2']);
      assert.deepEqual(st.database.syncStandbys, [replica]);
      // Removing the primary is refused before any node sees the file (the web nodes would drop it).
      fs.writeFileSync(c.file, yaml(false).replace(new RegExp(`  - \\{ name: ${primary},.*\\n`), ''));
      const refused = await bulwark(['reload', '-c', c.file]);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, new RegExp(`${primary} is the primary and the file no longer has it: switch over first .*no node was changed`));
      assert.equal(refused.stdout, '');
      fs.writeFileSync(c.file, yaml(false));
      await eventually(() => assert.ok(writer.acks.length > acked + 100 && reads.result.ok > 200));
    } finally {
      await writer.stop();
      await reads.stop();
    }
    assert.deepEqual(countReasons(writer.failures), {}, 'failed writes');
    assert.equal(reads.result.failed, 0, `failed reads: ${JSON.stringify(reads.result.failures)}`);
    const v = await verifyAcks(EDGE, writer.acks);
    assert.deepEqual([...v.lost, ...v.unverified].map((a) => a.id), [], 'acknowledged writes lost or unreadable');
    assert.deepEqual(await pids(), before, 'a node or a PostgreSQL restarted');
    console.log(`# ${writer.acks.length} writes acknowledged and read back, ${reads.result.ok} reads, none failed`);
  });
});
