/**
 * Rejoining a former primary without pg_rewind (the npm binaries), with real PostgreSQL:
 *
 *   a primary ─clone→ b replica; every write reaches b; a crashes; b promoted (timeline 2):
 *   findWalEnd(a) is not past b's fork point → the core says follow → a starts as b's replica
 *   with its data as it is and streams on timeline 2.
 *
 *   b (primary) writes while a is stopped, then crashes; a promoted (timeline 3): b's WAL ends
 *   past a's fork point → the core says re-clone. Started as a replica anyway, PostgreSQL refuses
 *   to follow and followRefusal finds its words in the log (the HA loop's safety net).
 *
 * Needs root (the service user, 127.0.8.x); skipped with the reason otherwise (a failure in CI).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { rejoinVerdict } from '../../src/control-plane/pg-ha/core/rejoin.js';
import {
  bootstrapPrimary, cloneFromPrimary, configureReplica, ensurePhysicalSlot, ensureSecrets, ensureServiceUser, findWalEnd, followRefusal,
  isRoot, locatePostgres, readStatus, readTimelineHistory, removeNewerHistoryFiles, secretFile, writeMemberPassfile, writeSecrets,
  type BootstrapResult, type UpstreamPrimary,
} from '../../src/control-plane/pg-ha/postgres/index.js';
import { eventually } from '../harness/eventually.js';
import { PgTestCluster, type PgTestMember, appQuery as appQueryAs } from '../harness/pg.js';

const A_ADDR = '127.0.8.1';
const B_ADDR = '127.0.8.2';

const skipReason = isRoot() ? undefined : 'needs root: PostgreSQL runs as the service user and members bind 127.0.8.x';
if (skipReason && process.env.CI === 'true') {
  test('pg-rejoin integration prerequisites', () => assert.fail(`CI=true but ${skipReason}`));
} else if (skipReason) {
  console.warn(`\n*** SKIPPING pg-rejoin integration tests: ${skipReason} ***\n`);
}

describe('rejoin without pg_rewind: follow when the WAL is a prefix, refuse when it diverged', { skip: skipReason, timeout: 120_000 }, () => {
  const clock = new SystemClock();
  let cluster: PgTestCluster;
  let a: PgTestMember;
  let b: PgTestMember;
  let boot: BootstrapResult;
  const timings: Record<string, number> = {};

  const upstream = (to: PgTestMember, from: PgTestMember): UpstreamPrimary => ({
    host: to.address, port: to.port, user: 'replicator', passfile: from.paths.passfile, applicationName: from.name, slotName: from.name, connectTimeoutSeconds: 2,
  });
  const appQuery = (m: PgTestMember, sql: string): Promise<pg.QueryResultRow[]> => appQueryAs(m, boot.secrets.app, sql);
  /** What a stopped member's HA cycle would decide against `leader` (the primary). */
  const verdict = async (stopped: PgTestMember, leader: PgTestMember) => {
    const w = await findWalEnd(stopped.paths.dataDir);
    const st = await readStatus(leader.instance);
    return rejoinVerdict({ state: 'stopped', walEnd: { timeline: w.timeline, position: w.end } }, leader.name, {
      role: 'primary', timeline: st.timeline!, walPosition: st.walLsn!.bytes, history: readTimelineHistory(leader.paths.dataDir, st.timeline!),
    });
  };

  before(async () => {
    const bin = await locatePostgres();
    const user = await ensureServiceUser();
    // Loopback connections to 127.0.8.x come from 127.0.0.1.
    cluster = new PgTestCluster({ binaries: bin, user, clock, logger: silentLogger(), memberAddresses: [A_ADDR, B_ADDR, '127.0.0.1'] });
    a = await cluster.member('a', A_ADDR);
    b = await cluster.member('b', B_ADDR);
    ensureSecrets(a.paths.secretsDir);
    await a.instance.initdb({ superuserPasswordFile: secretFile(a.paths.secretsDir, 'superuser'), noSync: true });
    await a.instance.start();
    boot = await bootstrapPrimary(a.instance, { secretsDir: a.paths.secretsDir, passfile: a.paths.passfile });
    await appQuery(a, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat('x', 300) FROM generate_series(1, 5000) g");
    writeSecrets(b.paths.secretsDir, boot.secrets);
    writeMemberPassfile(b.instance, b.paths.passfile, boot.secrets);
    await cloneFromPrimary(b.instance, { source: { host: A_ADDR, port: a.port, user: 'replicator', password: boot.secrets.replication }, passfile: b.paths.passfile, slotName: 'b' });
    await b.instance.start();
    await eventually(async () => assert.equal((await readStatus(b.instance)).receiver?.status, 'streaming'), { timeoutMs: 15_000 });
  });

  after(async () => {
    await cluster?.cleanup();
    console.log(`pg-rejoin timings (ms): ${JSON.stringify(timings)}`);
  });

  test('an old primary whose every write reached the replica follows it as it is', async () => {
    await appQuery(a, "INSERT INTO notes SELECT g, 'big ' || repeat('y', 9000) FROM generate_series(10001, 10200) g");
    const end = (await readStatus(a.instance)).walLsn!.bytes;
    await eventually(async () => assert.ok(((await readStatus(b.instance)).replayLsn?.bytes ?? 0) >= end), { timeoutMs: 15_000 });
    await a.instance.stop('immediate');
    assert.equal((await b.instance.promote()).timeline, 2);
    await ensurePhysicalSlot(b.instance, 'a');
    await appQuery(b, "INSERT INTO notes VALUES (20000, 'written on b')");

    const v = await verdict(a, b);
    assert.equal(v.kind, 'follow', v.why);
    configureReplica(a.instance, upstream(b, a));
    removeNewerHistoryFiles(a.paths.dataDir, 1);
    const t0 = clock.now();
    await a.instance.start();
    await eventually(async () => {
      const sa = await readStatus(a.instance);
      assert.equal(sa.receiver?.status, 'streaming');
      assert.equal(sa.timeline, 2);
      assert.equal((await appQuery(a, 'SELECT 1 FROM notes WHERE id = 20000')).length, 1);
    }, { timeoutMs: 15_000, intervalMs: 50, message: 'a follows b on timeline 2' });
    timings.followMs = clock.now() - t0;
  });

  test('a crashed primary with WAL the new primary never had: re-clone, and PostgreSQL refuses to follow', async () => {
    await a.instance.stop('fast');
    await appQuery(b, "INSERT INTO notes SELECT g, 'only on b' FROM generate_series(30001, 30100) g");
    await b.instance.stop('immediate');
    await a.instance.start();
    assert.equal((await a.instance.promote()).timeline, 3);
    await ensurePhysicalSlot(a.instance, 'b');

    const v = await verdict(b, a);
    assert.equal(v.kind, 'reclone', v.why);
    assert.match(v.why, /past a's fork point/);

    // Tried anyway, PostgreSQL keeps the diverged data off timeline 3 and says why.
    configureReplica(b.instance, upstream(a, b));
    const t0 = clock.now();
    await b.instance.start();
    const why = await eventually(async () => {
      const r = followRefusal(b.instance.logTail(100));
      assert.ok(r, 'no refusal in the log yet');
      return r;
    }, { timeoutMs: 15_000, intervalMs: 50, message: 'PostgreSQL refuses b as a replica of a' });
    timings.refusalMs = clock.now() - t0;
    assert.match(why, /forked off|not in this server's history/);
    const sb = await readStatus(b.instance);
    assert.notEqual(sb.receiver?.status, 'streaming');
    assert.equal((await appQuery(b, 'SELECT count(*)::int AS n FROM notes WHERE id > 30000'))[0]!.n, 100, 'b still has its own rows');
  });
});
