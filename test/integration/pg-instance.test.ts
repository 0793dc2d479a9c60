/**
 * Real PostgreSQL (the npm binaries, 18.x) driven through src/control-plane/pg-ha/postgres:
 * initdb + start a primary on 127.0.0.1, bootstrap roles, clone two replicas with BASE_BACKUP
 * (no pg_basebackup) onto 127.0.0.2 and 127.0.0.3, streaming, status, synchronous commit,
 * promotion after the primary dies (timeline 2, writable), re-pointing the other replica to the
 * new primary without a restart, stale postmaster.pid after SIGKILL.
 *
 * Needs root (to run PostgreSQL as the unprivileged service user and use 127.0.0.x). Without
 * root it is skipped with the reason printed — except in CI (CI=true), where it fails.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { SystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import {
  PostgresInstance,
  bootstrapPrimary,
  cloneFromPrimary,
  isPgControlError,
  rewind,
  type ExitInfo,
  ensurePhysicalSlot,
  ensureSecrets,
  ensureServiceUser,
  isRoot,
  locatePostgres,
  readAutoConf,
  readControlFile,
  readPostmasterPid,
  readStatus,
  readSynchronousStandbys,
  replicaHealth,
  repoint,
  secretFile,
  setSynchronousStandbys,
  standardHba,
  writeMemberPassfile,
  writeSecrets,
  type BootstrapResult,
  type PostgresBinaries,
  type ServiceUser,
} from '../../src/control-plane/pg-ha/postgres/index.js';
import { eventually } from '../harness/eventually.js';
import { PgTestCluster, memberTls, type PgTestMember } from '../harness/pg.js';

const A_ADDR = '127.0.0.1';
const B_ADDR = '127.0.0.2';
const C_ADDR = '127.0.0.3';

const skipReason = isRoot() ? undefined : 'needs root: PostgreSQL runs as the service user and members bind 127.0.0.x';
if (skipReason && process.env.CI === 'true') {
  test('pg-instance integration prerequisites', () => {
    assert.fail(`CI=true but ${skipReason}`);
  });
} else if (skipReason) {
  console.warn(`\n*** SKIPPING pg-instance integration tests: ${skipReason} ***\n`);
}

const timings: Record<string, number> = {};

describe('PostgreSQL member control (real servers)', { skip: skipReason, timeout: 90_000 }, () => {
  const clock = new SystemClock();
  const logger = silentLogger();
  let bin: PostgresBinaries;
  let user: ServiceUser;
  let cluster: PgTestCluster;
  let a: PgTestMember;
  let b: PgTestMember;
  let c: PgTestMember;
  let boot: BootstrapResult;

  const appClient = async (m: PgTestMember): Promise<pg.Client> => {
    const client = new pg.Client({ host: m.address, port: m.port, user: 'app', password: boot.secrets.app, database: 'app', ssl: memberTls(m) });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const appQuery = async <R extends pg.QueryResultRow>(m: PgTestMember, sql: string, params?: unknown[]): Promise<R[]> => {
    const client = await appClient(m);
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };

  before(async () => {
    bin = await locatePostgres();
    user = await ensureServiceUser('postgres');
    cluster = new PgTestCluster({ binaries: bin, user, clock, logger, memberAddresses: [A_ADDR, B_ADDR, C_ADDR] });
    a = await cluster.member('a', A_ADDR);
    b = await cluster.member('b', B_ADDR);
    c = await cluster.member('c', C_ADDR);
  });

  after(async () => {
    await cluster?.cleanup();
    console.log(`pg-instance timings (ms): ${JSON.stringify(timings)}`);
  });

  test('binaries: npm PostgreSQL 18, no pg_rewind / pg_basebackup', () => {
    assert.equal(bin.source, 'npm');
    assert.equal(bin.version.major, 18);
    assert.equal(bin.has.pgRewind, false);
    assert.equal(bin.has.pgBasebackup, false);
    assert.notEqual(user.uid, 0);
  });

  test('initdb and start a primary on 127.0.0.1', async () => {
    ensureSecrets(a.paths.secretsDir);
    const init = await a.instance.initdb({ superuserPasswordFile: secretFile(a.paths.secretsDir, 'superuser'), noSync: true });
    timings.initdb = init.durationMs;
    const st = fs.statSync(a.paths.dataDir);
    assert.equal(st.uid, user.uid);
    assert.equal(st.mode & 0o777, 0o700);
    const started = await a.instance.start();
    timings.startPrimary = started.durationMs;
    assert.equal(a.instance.isRunning, true);
    const [row] = await a.instance.query<{ addr: string; port: string; sock: string; sync: string }>(
      `SELECT current_setting('listen_addresses') AS addr, current_setting('port') AS port,
              current_setting('unix_socket_directories') AS sock, current_setting('data_checksums') AS sync`,
    );
    assert.equal(row?.addr, A_ADDR);
    assert.equal(Number(row?.port), a.port);
    assert.equal(row?.sock, a.paths.socketDir);
    assert.equal(row?.sync, 'on'); // data_checksums
    // The compiled-in /tmp socket is never used.
    assert.equal(fs.existsSync(`/tmp/.s.PGSQL.${a.port}`), false);
    assert.equal(fs.existsSync(path.join(a.paths.socketDir, `.s.PGSQL.${a.port}`)), true);
  });

  test('bootstrap: roles, database, secrets 0600; idempotent', async () => {
    boot = await bootstrapPrimary(a.instance, { secretsDir: a.paths.secretsDir, passfile: a.paths.passfile });
    assert.deepEqual(boot.created.sort(), ['database app', 'role app', 'role replicator', 'role rewind']);
    const again = await bootstrapPrimary(a.instance, { secretsDir: a.paths.secretsDir, passfile: a.paths.passfile });
    assert.deepEqual(again.created, []);
    assert.deepEqual(again.secrets, boot.secrets);
    for (const n of ['app', 'replication', 'superuser', 'rewind'] as const) {
      assert.equal(fs.statSync(secretFile(a.paths.secretsDir, n)).mode & 0o777, 0o600);
    }
    const pf = fs.statSync(a.paths.passfile);
    assert.equal(pf.mode & 0o777, 0o600);
    assert.equal(pf.uid, user.uid);
    // The stored verifier works: the app role logs in over TCP with scram-sha-256.
    const [who] = await appQuery<{ u: string }>(a, 'SELECT current_user AS u');
    assert.equal(who?.u, 'app');
    // A wrong password is refused.
    const bad = new pg.Client({ host: A_ADDR, port: a.port, user: 'app', password: 'wrong', database: 'app', ssl: memberTls(a) });
    bad.on('error', () => undefined);
    await assert.rejects(bad.connect(), /password authentication failed/);
  });

  test('write rows on the primary', async () => {
    await appQuery(a, 'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
    // ~20 MB so the clone has something to stream.
    await appQuery(a, "INSERT INTO notes SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g");
  });

  test('replaceHba: a file PostgreSQL rejects is put back; a good one is in force at once, without a restart', async () => {
    const file = path.join(a.paths.dataDir, 'pg_hba.conf');
    const written = fs.readFileSync(file, 'utf8');
    const pid = readPostmasterPid(a.paths.dataDir)?.pid;
    const rules = (clients: string[]) => standardHba({
      superuser: 'postgres', replicationUser: 'replicator', rewindUser: 'rewind', members: [A_ADDR, B_ADDR, C_ADDR], app: { user: 'app', database: 'app', clients },
    });
    const bogus = { type: 'hostssl', database: 'app', user: 'app', address: '127.0.0.8', method: 'scram-sha-256', options: 'clientcert=maybe' } as const;
    await assert.rejects(a.instance.replaceHba([...rules(['127.0.0.1']), bogus]), /rejects the new pg_hba.conf: line \d+: not understood/);
    assert.equal(fs.readFileSync(file, 'utf8'), written, 'the rejected file was not put back');
    await appQuery(a, 'SELECT 1');
    // Without 127.0.0.1 among the app's clients, the app is refused from there at once.
    await a.instance.replaceHba(rules(['127.0.0.9']));
    await eventually(async () => assert.match(String(await appQuery(a, 'SELECT 1').catch((e: Error) => e.message)), /no pg_hba.conf entry for host "127.0.0.1", user "app"/));
    await a.instance.replaceHba(rules(['127.0.0.1']));
    await eventually(() => appQuery(a, 'SELECT 1'));
    assert.equal(readPostmasterPid(a.paths.dataDir)?.pid, pid, 'PostgreSQL restarted');
  });

  test('clone replica b with BASE_BACKUP (progress, slot, per-node settings rewritten)', async () => {
    writeSecrets(b.paths.secretsDir, boot.secrets);
    writeMemberPassfile(b.instance, b.paths.passfile, boot.secrets);
    const progress: Array<[number, number]> = [];
    const res = await cloneFromPrimary(b.instance, {
      source: { host: A_ADDR, port: a.port, user: 'replicator', password: boot.secrets.replication },
      passfile: b.paths.passfile,
      slotName: 'b',
      onProgress: (done, total) => progress.push([done, total]),
    });
    timings.cloneMs = res.durationMs;
    timings.cloneMB = Math.round(res.bytes / 1048576);
    assert.ok(res.bytes > 10 * 1024 * 1024, `cloned ${res.bytes} bytes`);
    assert.ok(progress.length > 2, 'progress reported');
    const last = progress[progress.length - 1]!;
    assert.equal(last[0], last[1], 'final done == total');
    assert.equal(last[0], res.bytes);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0], 'progress never goes back');
    assert.equal(res.slotCreated, true);
    const slots = await a.instance.query<{ slot_name: string; restart_lsn: string | null }>('SELECT slot_name, restart_lsn::text FROM pg_replication_slots');
    assert.equal(slots[0]?.slot_name, 'b');
    assert.ok(slots[0]?.restart_lsn, 'slot reserves WAL');

    // Files belong to the service user; per-node settings and replica settings are b's.
    assert.equal(fs.statSync(path.join(b.paths.dataDir, 'PG_VERSION')).uid, user.uid);
    assert.equal(fs.existsSync(path.join(b.paths.dataDir, 'standby.signal')), true);
    const bulwarkConf = fs.readFileSync(path.join(b.paths.dataDir, 'postgresql.bulwark.conf'), 'utf8');
    assert.match(bulwarkConf, new RegExp(`^port = ${b.port}$`, 'm'));
    assert.match(bulwarkConf, new RegExp(`^listen_addresses = '${B_ADDR}'$`, 'm'));
    const auto = readAutoConf(b.paths.dataDir);
    assert.match(auto.get('primary_conninfo') ?? '', /passfile=/);
    assert.doesNotMatch(auto.get('primary_conninfo') ?? '', /password/);
    assert.equal(auto.get('primary_slot_name'), 'b');
    assert.equal(readControlFile(b.paths.dataDir)?.systemIdentifier, (await a.instance.query<{ s: string }>('SELECT system_identifier::text AS s FROM pg_control_system()'))[0]?.s);
  });

  test('b streams from a on 127.0.0.2 and sees the rows', async () => {
    const started = await b.instance.start();
    timings.startReplica = started.durationMs;
    await appQuery(a, "INSERT INTO notes VALUES (1000001, 'after clone')");
    await eventually(async () => {
      const rows = await appQuery<{ body: string }>(b, 'SELECT body FROM notes WHERE id = 1000001');
      assert.equal(rows[0]?.body, 'after clone');
    }, { timeoutMs: 10_000, message: 'row replicated to b' });
    const [cnt] = await appQuery<{ n: string }>(b, 'SELECT count(*) AS n FROM notes');
    assert.equal(Number(cnt?.n), 60001);
    await assert.rejects(appQuery(b, "INSERT INTO notes VALUES (1, 'x')"), /read-only/);
  });

  test('status on both: timeline 1, lag → 0, pg_stat_replication shows b', async () => {
    await eventually(async () => {
      const pa = await readStatus(a.instance);
      const pb = await readStatus(b.instance);
      assert.equal(pa.role, 'primary');
      assert.equal(pa.timeline, 1);
      assert.equal(pb.role, 'replica');
      assert.equal(pb.timeline, 1);
      assert.equal(pb.receiver?.status, 'streaming');
      assert.equal(pb.receiver?.receivedTli, 1);
      assert.equal(pb.receiver?.senderHost, A_ADDR);
      assert.equal(pb.replayLagSeconds, 0);
      const rb = pa.replicas.find((r) => r.applicationName === 'b');
      assert.ok(rb, 'b in pg_stat_replication');
      assert.equal(rb.state, 'streaming');
      assert.equal(rb.lagBytes, 0);
      assert.equal(pa.slots.find((s) => s.name === 'b')?.active, true);
      const h = replicaHealth(pb, pa);
      assert.equal(h.healthy, true, h.reasons.join('; '));
      assert.equal(typeof pa.walLsn?.bytes, 'number');
      JSON.stringify(pa); // DCS-friendly: no bigint
    }, { timeoutMs: 10_000, message: 'replication settled' });
  });

  test('clone and start a second replica c on 127.0.0.3', async () => {
    writeSecrets(c.paths.secretsDir, boot.secrets);
    writeMemberPassfile(c.instance, c.paths.passfile, boot.secrets);
    await cloneFromPrimary(c.instance, {
      source: { host: A_ADDR, port: a.port, user: 'replicator', password: boot.secrets.replication },
      passfile: c.paths.passfile,
      slotName: 'c',
    });
    await c.instance.start();
    await eventually(async () => {
      const rows = await appQuery(c, 'SELECT 1 FROM notes WHERE id = 1000001');
      assert.equal(rows.length, 1);
    }, { timeoutMs: 10_000 });
  });

  test('synchronous replication ANY 1 (b): a commit succeeds and b is the quorum standby', async () => {
    const set = await setSynchronousStandbys(a.instance, { names: ['b'] });
    assert.equal(set.raw, 'ANY 1 ("b")');
    assert.deepEqual(set.parsed, { method: 'ANY', num: 1, names: ['b'] });
    await eventually(async () => {
      const s = await readSynchronousStandbys(a.instance);
      assert.equal(s.standbys.find((x) => x.name === 'b')?.syncState, 'quorum');
      assert.equal(s.standbys.find((x) => x.name === 'c')?.syncState, 'async');
    }, { timeoutMs: 5_000 });
    const t0 = Date.now();
    await appQuery(a, "INSERT INTO notes VALUES (1000002, 'sync commit')");
    timings.syncCommit = Date.now() - t0;
    // Acknowledged under sync: already on b (written + flushed there; replay follows quickly).
    await eventually(async () => assert.equal((await appQuery(b, 'SELECT 1 FROM notes WHERE id = 1000002')).length, 1), { timeoutMs: 5_000 });
    const st = await readStatus(a.instance);
    assert.equal(st.synchronousStandbyNames, 'ANY 1 ("b")');
  });

  test('a commit waiting for an absent sync standby is released by clearing the list', async () => {
    await setSynchronousStandbys(a.instance, { names: ['nobody'] });
    const client = await appClient(a);
    try {
      let done = false;
      const insert = client.query("INSERT INTO notes VALUES (1000003, 'waits')").then(() => (done = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'the commit waits for a standby');
      const t0 = Date.now();
      const cleared = await setSynchronousStandbys(a.instance, null);
      assert.equal(cleared.raw, '');
      await insert;
      timings.syncRelease = Date.now() - t0;
    } finally {
      await client.end();
    }
  });

  test('promote b after a dies (immediate): writable on timeline 2', async () => {
    // Both replicas have everything a wrote (so c can follow b afterwards).
    const [{ lsn } = { lsn: '' }] = await a.instance.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await eventually(async () => {
      for (const m of [b, c]) {
        const [r] = await m.instance.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
        assert.equal(r?.ok, true, `${m.name} replayed ${lsn}`);
      }
    }, { timeoutMs: 10_000 });
    const stopped = await a.instance.stop('immediate');
    assert.equal(stopped.wasRunning, true);
    assert.equal(a.instance.isRunning, false);

    const res = await b.instance.promote();
    timings.promote = res.durationMs;
    assert.equal(res.alreadyPrimary, false);
    assert.equal(res.timeline, 2);
    const sb = await readStatus(b.instance);
    assert.equal(sb.role, 'primary');
    assert.equal(sb.timeline, 2);
    // b's postgresql.auto.conf came from the clone with only replica keys: no sync list to block on.
    assert.equal(sb.synchronousStandbyNames, '');
    await appQuery(b, "INSERT INTO notes VALUES (2000001, 'written on b')");
    assert.equal(await b.instance.isWritable(), true);
  });

  test('repoint c to b without a restart: streams on timeline 2', async () => {
    const pidBefore = c.instance.pid;
    await ensurePhysicalSlot(b.instance, 'c');
    const r = await repoint(
      c.instance,
      { host: B_ADDR, port: b.port, user: 'replicator', passfile: c.paths.passfile, applicationName: 'c', slotName: 'c' },
      { waitStreamingMs: 15_000 },
    );
    timings.repoint = r.durationMs;
    assert.equal(c.instance.pid, pidBefore, 'no restart');
    await eventually(async () => assert.equal((await appQuery(c, 'SELECT 1 FROM notes WHERE id = 2000001')).length, 1), { timeoutMs: 10_000 });
    const [sc, sb] = [await readStatus(c.instance), await readStatus(b.instance)];
    assert.equal(sc.timeline, 2);
    assert.equal(sc.receiver?.senderHost, B_ADDR);
    assert.equal(replicaHealth(sc, sb).healthy, true, replicaHealth(sc, sb).reasons.join('; '));
    assert.ok(sb.replicas.some((x) => x.applicationName === 'c' && x.state === 'streaming'));
  });

  test('SIGKILL leaves a stale postmaster.pid; start() clears it and recovers', async () => {
    const pid = c.instance.pid!;
    const k = await c.instance.kill();
    assert.equal(k.signal, 'SIGKILL');
    assert.equal(fs.existsSync(path.join(c.paths.dataDir, 'postmaster.pid')), true);
    assert.equal(c.instance.detect().state, 'stopped');
    const again = await c.instance.start();
    assert.notEqual(again.pid, pid);
    await eventually(async () => assert.equal((await readStatus(c.instance)).receiver?.status, 'streaming'), { timeoutMs: 10_000 });
  });

  test('a postmaster not started by this object is an orphan: start() refuses, stopOrphan() ends it', async () => {
    const pid = c.instance.pid!;
    const other = new PostgresInstance({
      name: 'c',
      binaries: bin,
      dataDir: c.paths.dataDir,
      socketDir: c.paths.socketDir,
      listenAddress: C_ADDR,
      port: c.port,
      user,
      clock,
      logger,
    });
    assert.deepEqual(other.detect(), { state: 'orphan', pid });
    await assert.rejects(other.start(), (err: unknown) => isPgControlError(err, 'PG_ALREADY_RUNNING'));
    const exited = new Promise<ExitInfo>((resolve) => c.instance.once('exit', resolve));
    const r = await other.stopOrphan('fast', { timeoutMs: 20_000 });
    assert.equal(r.wasRunning, true);
    const info = await exited;
    assert.equal(info.requested, false, 'the owner sees an unexpected exit');
    assert.equal(c.instance.isRunning, false);
    assert.equal(readControlFile(c.paths.dataDir)?.state, 'shut down in recovery');
  });

  test('rewind without pg_rewind (npm binaries) says so', async () => {
    await assert.rejects(
      rewind(
        c.instance,
        { host: B_ADDR, port: b.port, user: 'rewind', password: boot.secrets.rewind, passfile: c.paths.passfile },
        { host: B_ADDR, port: b.port, user: 'replicator', passfile: c.paths.passfile, applicationName: 'c' },
      ),
      (err: unknown) => isPgControlError(err, 'PG_REWIND_UNAVAILABLE'),
    );
  });

  test('failures are clear: a clone with a bad password leaves an empty dir, a busy port fails start()', async () => {
    const d = await cluster.member('d', '127.0.0.4');
    await assert.rejects(
      cloneFromPrimary(d.instance, {
        source: { host: B_ADDR, port: b.port, user: 'replicator', password: 'wrong' },
        passfile: d.paths.passfile,
      }),
      (err: unknown) => isPgControlError(err, 'PG_CLONE_FAILED') && /password authentication failed/.test(err.details.join(' ')),
    );
    assert.deepEqual(fs.readdirSync(d.paths.dataDir), []);
    assert.equal(fs.existsSync(`${d.paths.dataDir}.clone-incomplete`), false);

    // c is stopped: occupy its address:port and start it.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(c.port, C_ADDR, resolve));
    try {
      await assert.rejects(c.instance.start({ timeoutMs: 20_000 }), (err: unknown) => {
        assert.ok(isPgControlError(err, 'PG_START_FAILED'), String(err));
        assert.match(err.details.join('\n'), /could not (bind|create listen socket)/);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    assert.equal(c.instance.isRunning, false);
  });

  test('stop everything (fast): clean exit', async () => {
    const r = await b.instance.stop('fast', { timeoutMs: 20_000 });
    assert.equal(r.code, 0);
    assert.equal(r.escalated, false);
    assert.equal(readControlFile(b.paths.dataDir)?.state, 'shut down');
    assert.equal(readControlFile(b.paths.dataDir)?.checkpointTimeline, 2);
  });
});
