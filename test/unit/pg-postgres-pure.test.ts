/**
 * Pure parts of src/control-plane/pg-ha/postgres: quoting, conninfo, passfile, LSNs, SCRAM,
 * sync lists, config/hba rendering, auto.conf round trip, pg_control parsing, the tar extractor
 * (pax, GNU long names, refusals), npm symlink repair, the traversability check, and where a
 * member's TLS files go (written without running anything).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildConninfo,
  confValue,
  formatLsn,
  lsnToBigInt,
  parseConninfo,
  parseLsn,
  quoteIdent,
  quoteLiteral,
  renderPassfile,
  scramSha256Verifier,
  slotNameFor,
} from '../../src/control-plane/pg-ha/postgres/sql.js';
import { formatSyncStandbyNames, parseSyncStandbyNames } from '../../src/control-plane/pg-ha/postgres/sync.js';
import {
  memberSettings,
  parseConfText,
  parsePostmasterPid,
  renderAutoConf,
  renderConf,
  renderHba,
  standardHba,
} from '../../src/control-plane/pg-ha/postgres/conf.js';
import { parseControlFile } from '../../src/control-plane/pg-ha/postgres/control-file.js';
import { TarExtractor, TarFormatError } from '../../src/control-plane/pg-ha/postgres/tar-extract.js';
import { parseVersion, repairNpmSymlinks } from '../../src/control-plane/pg-ha/postgres/binaries.js';
import { firstUntraversable, type ServiceUser } from '../../src/control-plane/pg-ha/postgres/os-user.js';
import { primaryConninfo } from '../../src/control-plane/pg-ha/postgres/replica-setup.js';
import { baseBackupCommand } from '../../src/control-plane/pg-ha/postgres/base-backup.js';
import { PostgresInstance } from '../../src/control-plane/pg-ha/postgres/instance.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';

const ME: ServiceUser = { name: os.userInfo().username, uid: os.userInfo().uid, gid: os.userInfo().gid, switchUser: false };

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-pgunit-'));
}

test('quoting: identifiers and literals', () => {
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral('a\\b'), "'a\\b'");
  assert.throws(() => quoteIdent(''));
  assert.equal(confValue(true), 'on');
  assert.equal(confValue(10), '10');
  assert.equal(confValue("a'b\\c"), "'a''b\\\\c'");
  assert.throws(() => confValue('x\ny'));
});

test('conninfo: build and parse round trip, quoting', () => {
  const ci = buildConninfo({ host: '127.0.0.1', port: 5432, user: 'rep', passfile: "/x y/it's", application_name: 'db-1', skip: undefined });
  assert.equal(ci, "host=127.0.0.1 port=5432 user=rep passfile='/x y/it\\'s' application_name=db-1");
  assert.deepEqual(parseConninfo(ci), { host: '127.0.0.1', port: '5432', user: 'rep', passfile: "/x y/it's", application_name: 'db-1' });
  const tls = { ca: '/m/tls/ca.crt', cert: '/m/tls/member.crt', key: '/m/tls/member.key' };
  const pc = primaryConninfo({ host: '10.0.0.1', port: 5433, user: 'replicator', passfile: '/p/pgpass', applicationName: 'db-2' }, tls);
  assert.doesNotMatch(pc, /password/);
  const parsed = parseConninfo(pc);
  assert.equal(parsed.passfile, '/p/pgpass');
  assert.equal(parsed.application_name, 'db-2');
  // Replication always verifies the primary (CA and address) and presents the member's certificate.
  assert.equal(parsed.sslmode, 'verify-full');
  assert.equal(parsed.sslrootcert, tls.ca);
  assert.equal(parsed.sslcert, tls.cert);
  assert.equal(parsed.sslkey, tls.key);
});

test('passfile: wildcards and escapes', () => {
  assert.equal(renderPassfile([{ user: 'rep', password: 'a:b\\c' }]), '*:*:*:rep:a\\:b\\\\c\n');
  assert.equal(renderPassfile([{ host: 'h', port: 1, database: 'd', user: 'u', password: 'p' }]), 'h:1:d:u:p\n');
});

test('LSNs: parse, bigint, format', () => {
  assert.equal(lsnToBigInt('0/3000148'), 0x3000148n);
  assert.equal(lsnToBigInt('1/0'), 1n << 32n);
  assert.deepEqual(parseLsn('16/b374d848'), { text: '16/B374D848', bytes: 0x16b374d848 });
  assert.equal(formatLsn(0x16b374d848n), '16/B374D848');
  assert.throws(() => lsnToBigInt('nope'));
});

test('SCRAM-SHA-256 verifier matches RFC 7677 derivation', () => {
  const salt = Buffer.from('0123456789abcdef');
  const v = scramSha256Verifier('pencil', 4096, salt);
  const salted = pbkdf2Sync('pencil', salt, 4096, 32, 'sha256');
  const stored = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
  const server = createHmac('sha256', salted).update('Server Key').digest('base64');
  assert.equal(v, `SCRAM-SHA-256$4096:${salt.toString('base64')}$${stored}:${server}`);
});

test('slot names', () => {
  assert.equal(slotNameFor('DB-2.east'), 'db_2_east');
});

test('synchronous_standby_names: format and parse', () => {
  assert.equal(formatSyncStandbyNames({ names: ['db-2', 'db-3'] }), 'ANY 1 ("db-2", "db-3")');
  assert.equal(formatSyncStandbyNames(null), '');
  assert.equal(formatSyncStandbyNames({ names: [] }), '');
  assert.throws(() => formatSyncStandbyNames({ names: ['a'], num: 2 }));
  assert.deepEqual(parseSyncStandbyNames('ANY 1 ("db-2", "db-3")'), { method: 'ANY', num: 1, names: ['db-2', 'db-3'] });
  assert.deepEqual(parseSyncStandbyNames('FIRST 2 (a, b, c)'), { method: 'FIRST', num: 2, names: ['a', 'b', 'c'] });
  assert.deepEqual(parseSyncStandbyNames('a, b'), { method: 'FIRST', num: 1, names: ['a', 'b'] });
  assert.equal(parseSyncStandbyNames(''), null);
});

test('member settings: per-node values, socket dir, replication knobs; dynamic keys refused', () => {
  const s = memberSettings({ name: 'db-1', listenAddress: '10.0.0.1', port: 5432, socketDir: '/var/lib/bulwark/db-1/run' });
  assert.equal(s.listen_addresses, '10.0.0.1');
  assert.equal(s.unix_socket_directories, '/var/lib/bulwark/db-1/run');
  assert.equal(s.wal_level, 'replica');
  assert.equal(s.wal_log_hints, true);
  assert.equal(s.hot_standby_feedback, true);
  assert.throws(() => memberSettings({ name: 'x', listenAddress: 'a', port: 1, socketDir: '/s' }, { synchronous_standby_names: 'x' }));
  const text = renderConf(s, 'test');
  assert.match(text, /^unix_socket_directories = '\/var\/lib\/bulwark\/db-1\/run'$/m);
  assert.match(text, /^hot_standby = on$/m);
  assert.equal(parseConfText(text).get('port'), '5432');
});

test('auto.conf round trip keeps quotes and backslashes', () => {
  const m = new Map([['primary_conninfo', "host=h passfile='/a b/p\\q'"], ['primary_slot_name', 'db_2']]);
  const back = parseConfText(renderAutoConf(m));
  assert.deepEqual([...back], [...m]);
});

test('hba: standard rules only allow members and app clients, scram everywhere', () => {
  const rules = standardHba({
    superuser: 'postgres',
    replicationUser: 'replicator',
    rewindUser: 'rewind',
    members: ['10.0.0.1', '10.0.0.2', '10.0.0.2'],
    app: { user: 'app', database: 'app', clients: ['10.0.1.0/24'] },
  });
  const text = renderHba(rules);
  assert.match(text, /^local\tall\tpostgres\tpeer\tmap=bulwark$/m);
  // Every remote row is TLS-only; replication and rewind also need a certificate from the cluster CA.
  assert.match(text, /^hostssl\treplication\treplicator\t10\.0\.0\.2\/32\tscram-sha-256\tclientcert=verify-ca$/m);
  assert.match(text, /^hostssl\tpostgres\trewind\t10\.0\.0\.1\/32\tscram-sha-256\tclientcert=verify-ca$/m);
  assert.match(text, /^hostssl\tapp\tapp\t10\.0\.1\.0\/24\tscram-sha-256$/m);
  assert.doesNotMatch(text, /^host\t/m, 'no row admits plain text');
  assert.equal(text.match(/replication\treplicator/g)?.length, 2, 'duplicates removed');
  assert.doesNotMatch(text, /\btrust\b/);
  assert.doesNotMatch(text, /0\.0\.0\.0/);
  assert.throws(() => renderHba([{ type: 'host', database: 'all', user: 'all', address: 'example.com', method: 'reject' }]));
});

test('postmaster.pid parsing', () => {
  const p = parsePostmasterPid('4242\n/data\n1700000000\n5432\n/run\n127.0.0.1\n  123 456\nready   \n');
  assert.equal(p?.pid, 4242);
  assert.equal(p?.port, 5432);
  assert.equal(p?.status, 'ready');
  assert.equal(parsePostmasterPid('garbage'), undefined);
});

test('pg_control head parsing', () => {
  const b = Buffer.alloc(296);
  b.writeBigUInt64LE(7312345678901234567n, 0);
  b.writeUInt32LE(1800, 8);
  b.writeInt32LE(1, 16); // shut down
  b.writeBigInt64LE(1_700_000_000n, 24);
  b.writeBigUInt64LE(0x3000148n, 32);
  b.writeBigUInt64LE(0x3000028n, 40);
  b.writeUInt32LE(2, 48);
  b.writeUInt32LE(1, 52);
  const c = parseControlFile(b);
  assert.equal(c.systemIdentifier, '7312345678901234567');
  assert.equal(c.state, 'shut down');
  assert.equal(c.cleanlyShutDown, true);
  assert.equal(c.checkpointLsn, '0/3000148');
  assert.equal(c.checkpointTimeline, 2);
  assert.equal(c.time, 1_700_000_000_000);
});

// --- tar ------------------------------------------------------------------------------------

function header(name: string, type: string, size: number, opts: { link?: string; mode?: number; prefix?: string } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write((opts.mode ?? 0o600).toString(8).padStart(7, '0') + '\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write(type, 156, 'ascii');
  if (opts.link) h.write(opts.link, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  if (opts.prefix) h.write(opts.prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function entry(name: string, type: string, data: Buffer | string = '', opts: { link?: string; mode?: number; prefix?: string } = {}): Buffer {
  const d = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const pad = (512 - (d.length % 512)) % 512;
  return Buffer.concat([header(name, type, d.length, opts), d, Buffer.alloc(pad)]);
}

function pax(records: Record<string, string>): Buffer {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    const restBytes = Buffer.byteLength(rest);
    let len = restBytes + 1;
    while (String(len).length + restBytes !== len) len = String(len).length + restBytes;
    body += `${len}${rest}`;
  }
  return entry('PaxHeader', 'x', body);
}

const END = Buffer.alloc(1024);

async function extract(dir: string, archive: Buffer, chunk = 7): Promise<TarExtractor> {
  const x = new TarExtractor({ dir, owner: ME, fsync: false });
  for (let i = 0; i < archive.length; i += chunk) await x.write(archive.subarray(i, i + chunk));
  await x.end();
  return x;
}

test('tar: files, dirs, symlinks, pax path, GNU long name, ustar prefix, odd chunking', async () => {
  const dir = tmp();
  try {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0xab);
    const longName = `base/${'x'.repeat(150)}`;
    const archive = Buffer.concat([
      entry('base/', '5', '', { mode: 0o700 }),
      entry('base/1', '0', 'hello'),
      entry('global/pg_control', '0', big),
      pax({ path: 'base/pax-name-é' }),
      entry('ignored', '0', 'via pax'),
      entry('././@LongLink', 'L', `${longName}\0`),
      entry('truncated', '0', 'long'),
      entry('file', '0', 'prefixed', { prefix: 'pg_wal' }),
      entry('pg_tblspc/16384', '2', '', { link: '/somewhere/else' }),
      entry('empty', '0', ''),
      END,
    ]);
    const x = await extract(dir, archive, 4093);
    assert.equal(x.finished, true);
    assert.equal(fs.readFileSync(path.join(dir, 'base/1'), 'utf8'), 'hello');
    assert.equal(fs.statSync(path.join(dir, 'base/1')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, 'base')).mode & 0o777, 0o700);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'global/pg_control')), big);
    assert.equal(fs.readFileSync(path.join(dir, 'base/pax-name-é'), 'utf8'), 'via pax');
    assert.equal(fs.readFileSync(path.join(dir, longName), 'utf8'), 'long');
    assert.equal(fs.readFileSync(path.join(dir, 'pg_wal/file'), 'utf8'), 'prefixed');
    assert.equal(fs.readlinkSync(path.join(dir, 'pg_tblspc/16384')), '/somewhere/else');
    assert.equal(fs.readFileSync(path.join(dir, 'empty'), 'utf8'), '');
    // Same archive fed in tiny chunks gives the same result.
    const dir2 = tmp();
    await extract(dir2, archive, 3);
    assert.deepEqual(fs.readFileSync(path.join(dir2, 'global/pg_control')), big);
    fs.rmSync(dir2, { recursive: true, force: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tar: refuses escapes, writing through its own symlinks, bad checksums, truncation', async () => {
  const cases: Array<[string, Buffer]> = [
    ['dotdot', Buffer.concat([entry('../evil', '0', 'x'), END])],
    ['absolute', Buffer.concat([entry('/etc/evil', '0', 'x'), END])],
    ['through symlink', Buffer.concat([entry('link', '2', '', { link: '/tmp' }), entry('link/evil', '0', 'x'), END])],
    ['pax dotdot', Buffer.concat([pax({ path: 'a/../../evil' }), entry('ok', '0', 'x'), END])],
  ];
  for (const [what, archive] of cases) {
    const dir = tmp();
    try {
      await assert.rejects(extract(dir, archive, 512), TarFormatError, what);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const dir = tmp();
  try {
    const bad = entry('f', '0', 'x');
    bad[0] = 'g'.charCodeAt(0);
    await assert.rejects(extract(dir, Buffer.concat([bad, END])), /checksum/);
    const truncated = entry('f', '0', Buffer.alloc(2000)).subarray(0, 1000);
    await assert.rejects(extract(dir, truncated), /truncated|inside a file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('BASE_BACKUP command uses the PostgreSQL 15+ option syntax', () => {
  assert.equal(
    baseBackupCommand({ label: "it's" }),
    "BASE_BACKUP ( LABEL 'it''s', PROGRESS true, CHECKPOINT 'fast', WAL true, WAIT true, MANIFEST 'no' )",
  );
});

test('binaries: version parsing and npm symlink repair', () => {
  assert.deepEqual(parseVersion('postgres (PostgreSQL) 18.4\n'), { major: 18, full: '18.4' });
  assert.deepEqual(parseVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), { major: 15, full: '15.18' });
  const pkg = tmp();
  try {
    fs.mkdirSync(path.join(pkg, 'native/lib'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'native/lib/libx.so.1.2'), 'elf');
    fs.writeFileSync(
      path.join(pkg, 'native/pg-symlinks.json'),
      JSON.stringify([{ source: 'native/lib/libx.so.1.2', target: 'native/lib/libx.so.1' }]),
    );
    assert.equal(repairNpmSymlinks(pkg).length, 1);
    assert.equal(fs.readlinkSync(path.join(pkg, 'native/lib/libx.so.1')), 'libx.so.1.2');
    assert.equal(fs.readFileSync(path.join(pkg, 'native/lib/libx.so.1'), 'utf8'), 'elf');
    assert.equal(repairNpmSymlinks(pkg).length, 0, 'idempotent');
  } finally {
    fs.rmSync(pkg, { recursive: true, force: true });
  }
});

test('traversability: finds the first directory the service user cannot search', () => {
  const base = tmp();
  try {
    const locked = path.join(base, 'home');
    const deep = path.join(locked, 'proj/node_modules/bin');
    fs.mkdirSync(deep, { recursive: true });
    fs.chmodSync(base, 0o755);
    fs.chmodSync(locked, 0o700);
    const other: ServiceUser = { name: 'svc', uid: 54321, gid: 54321, switchUser: true };
    assert.equal(firstUntraversable(deep, other, { includeSelf: true }), locked);
    fs.chmodSync(locked, 0o711);
    assert.equal(firstUntraversable(deep, other, { includeSelf: true }), undefined);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('TLS: copies 0600 outside the data dir, settings no parameter can turn off, no TLS no replication', () => {
  const root = tmp();
  const pem = { ca: 'CA PEM\n', cert: 'CERT PEM\n', key: 'KEY PEM\n' };
  const base = {
    name: 'db-1', binaries: { binDir: '/nowhere', source: 'system', version: parseVersion('postgres (PostgreSQL) 18.4'), has: { pgRewind: false, pgBasebackup: false, pgControldata: false } } as const,
    dataDir: path.join(root, 'data'), socketDir: path.join(root, 'run'), listenAddress: '10.0.0.1', port: 5432, user: ME,
    clock: new ManualClock(0), logger: silentLogger(),
  };
  fs.mkdirSync(base.dataDir);
  try {
    const pg = new PostgresInstance({ ...base, settings: { ssl: false, ssl_min_protocol_version: 'TLSv1' }, tls: { dir: path.join(root, 'tls'), pem } });
    const settings = pg.writeConfig({ ssl_cert_file: '/etc/other.crt' });
    const files = pg.tlsFiles();
    assert.equal(settings.ssl, true);
    assert.equal(settings.ssl_min_protocol_version, 'TLSv1.2');
    assert.equal(settings.ssl_cert_file, files.cert);
    assert.equal(settings.ssl_key_file, files.key);
    assert.equal(settings.ssl_ca_file, files.ca);
    for (const f of [files.ca, files.cert, files.key]) {
      assert.ok(!f.startsWith(base.dataDir + path.sep), `${f} is outside the data dir`);
      assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    }
    assert.equal(fs.readFileSync(files.key, 'utf8'), pem.key);
    assert.equal(fs.statSync(path.join(root, 'tls')).mode & 0o777, 0o700);
    const plain = new PostgresInstance(base);
    assert.equal(plain.writeConfig().ssl, undefined);
    assert.throws(() => plain.tlsFiles(), /no TLS credentials/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
