/**
 * pg_rewind with a system PostgreSQL (Debian's postgresql-15 in /usr/lib/postgresql/15/bin; the
 * npm binaries have no pg_rewind). Also proves the BASE_BACKUP clone on PostgreSQL 15.
 *
 *   a primary ─clone→ b replica; b stopped; a writes a row b never sees; a crashes (immediate);
 *   b promoted (timeline 2) and written; a rewound from b (CHECKPOINT on b first), restarted as
 *   b's replica: the diverged row is gone, b's row is there, timeline 2.
 *
 * Skipped (loudly) without root or without the system binaries; with CI=true a missing root is
 * a failure, a missing optional system install is still only a skip.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pg from 'pg';
import { SystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import {
  bootstrapPrimary,
  cloneFromPrimary,
  ensurePhysicalSlot,
  ensureSecrets,
  ensureServiceUser,
  isRoot,
  locatePostgres,
  readControlFile,
  readStatus,
  rewind,
  secretFile,
  writeMemberPassfile,
  writeSecrets,
  type BootstrapResult,
  type PostgresBinaries,
} from '../../src/control-plane/pg-ha/postgres/index.js';
import { eventually } from '../harness/eventually.js';
import { PgTestCluster, type PgTestMember, appQuery as appQueryAs } from '../harness/pg.js';

const SYSTEM_BIN = process.env.BULWARK_PG_SYSTEM_BIN ?? '/usr/lib/postgresql/15/bin';
const A_ADDR = '127.0.0.1';
const B_ADDR = '127.0.0.2';

const skipReason = !isRoot()
  ? 'needs root: PostgreSQL runs as the service user and members bind 127.0.0.x'
  : !fs.existsSync(`${SYSTEM_BIN}/pg_rewind`)
    ? `no system PostgreSQL with pg_rewind in ${SYSTEM_BIN} (Debian: apt-get install postgresql-15)`
    : undefined;
if (skipReason && !isRoot() && process.env.CI === 'true') {
  test('pg-rewind integration prerequisites', () => assert.fail(`CI=true but ${skipReason}`));
} else if (skipReason) {
  console.warn(`\n*** SKIPPING pg-rewind integration tests: ${skipReason} ***\n`);
}

describe('pg_rewind of a crashed former primary (system PostgreSQL)', { skip: skipReason, timeout: 90_000 }, () => {
  const clock = new SystemClock();
  let bin: PostgresBinaries;
  let cluster: PgTestCluster;
  let a: PgTestMember;
  let b: PgTestMember;
  let boot: BootstrapResult;
  const timings: Record<string, number> = {};

  const appQuery = (m: PgTestMember, sql: string): Promise<pg.QueryResultRow[]> => appQueryAs(m, boot.secrets.app, sql);

  before(async () => {
    bin = await locatePostgres({ binDir: SYSTEM_BIN });
    const user = await ensureServiceUser('postgres');
    cluster = new PgTestCluster({ binaries: bin, user, clock, logger: silentLogger(), memberAddresses: [A_ADDR, B_ADDR] });
    a = await cluster.member('a', A_ADDR);
    b = await cluster.member('b', B_ADDR);
  });

  after(async () => {
    await cluster?.cleanup();
    console.log(`pg-rewind timings (ms): ${JSON.stringify(timings)}`);
  });

  test('system binaries have pg_rewind', () => {
    assert.equal(bin.source, 'system');
    assert.equal(bin.has.pgRewind, true);
    assert.ok(bin.version.major >= 15);
  });

  test('primary a, replica b cloned with BASE_BACKUP on this version', async () => {
    ensureSecrets(a.paths.secretsDir);
    await a.instance.initdb({ superuserPasswordFile: secretFile(a.paths.secretsDir, 'superuser'), noSync: true });
    await a.instance.start();
    boot = await bootstrapPrimary(a.instance, { secretsDir: a.paths.secretsDir, passfile: a.paths.passfile });
    await appQuery(a, 'CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await appQuery(a, "INSERT INTO notes SELECT g, 'before' FROM generate_series(1, 1000) g");
    writeSecrets(b.paths.secretsDir, boot.secrets);
    writeMemberPassfile(b.instance, b.paths.passfile, boot.secrets);
    await cloneFromPrimary(b.instance, {
      source: { host: A_ADDR, port: a.port, user: 'replicator', password: boot.secrets.replication },
      passfile: b.paths.passfile,
      slotName: 'b',
    });
    await b.instance.start();
    await eventually(async () => assert.equal((await readStatus(b.instance)).receiver?.status, 'streaming'), { timeoutMs: 10_000 });
  });

  test('diverge: b stops, a writes alone and crashes, b is promoted and written', async () => {
    await b.instance.stop('fast');
    await appQuery(a, "INSERT INTO notes VALUES (5000, 'diverged on a')");
    await a.instance.stop('immediate');
    assert.equal(readControlFile(a.paths.dataDir)?.cleanlyShutDown, false);
    await b.instance.start();
    const p = await b.instance.promote();
    assert.equal(p.timeline, 2);
    await appQuery(b, "INSERT INTO notes VALUES (6000, 'written on b')");
  });

  test('rewind a from b and follow b on timeline 2', async () => {
    await ensurePhysicalSlot(b.instance, 'a');
    const r = await rewind(
      a.instance,
      { host: B_ADDR, port: b.port, user: 'rewind', password: boot.secrets.rewind, passfile: a.paths.passfile },
      { host: B_ADDR, port: b.port, user: 'replicator', passfile: a.paths.passfile, applicationName: 'a', slotName: 'a' },
    );
    timings.rewind = r.durationMs;
    assert.equal(r.rewound, true, r.output.join('\n'));
    // Per-node settings are a's again (pg_rewind copied b's files).
    assert.match(fs.readFileSync(`${a.paths.dataDir}/postgresql.bulwark.conf`, 'utf8'), new RegExp(`^port = ${a.port}$`, 'm'));
    await a.instance.start();
    await eventually(async () => {
      const sa = await readStatus(a.instance);
      assert.equal(sa.role, 'replica');
      assert.equal(sa.receiver?.status, 'streaming');
      assert.equal(sa.receiver?.senderHost, B_ADDR);
      assert.equal(sa.timeline, 2);
      assert.equal((await appQuery(a, 'SELECT 1 FROM notes WHERE id = 6000')).length, 1);
    }, { timeoutMs: 15_000, message: 'a follows b' });
    assert.equal((await appQuery(a, 'SELECT 1 FROM notes WHERE id = 5000')).length, 0, 'the diverged row is gone');
  });

  test('stop both', async () => {
    for (const m of [a, b]) assert.equal((await m.instance.stop('fast', { timeoutMs: 20_000 })).code, 0);
  });
});
