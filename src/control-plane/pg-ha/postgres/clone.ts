/**
 * Clone a running primary into an empty data directory over TCP only (works across machines),
 * without pg_basebackup:
 *
 *   1. create this replica's physical slot on the primary (WAL reserved now, idempotent), so
 *      every segment from the backup's start on stays available to the replica;
 *   2. BASE_BACKUP (fast checkpoint, WAL included, progress) on a replication connection as the
 *      replication role (TLS: the source's certificate verified against the cluster CA and its
 *      address, ours presented, as the walreceiver will later do), streamed through a tar
 *      extractor into the data dir, files owned by the service user; progress reported through
 *      a callback and logged every 10 %;
 *   3. rewrite every per-node setting the copy brought from the source: postgresql.bulwark.conf
 *      (port, listen address, socket dir), pg_hba/pg_ident (when the instance has rules),
 *      postgresql.auto.conf (only primary_conninfo with a passfile, primary_slot_name,
 *      recovery_target_timeline; the source's synchronous_standby_names is dropped) and
 *      standby.signal.
 *
 * A marker `<dataDir>.clone-incomplete` exists from the first byte until the end: a member found
 * with it after a crash has a half-written data dir and must be re-cloned (isCloneIncomplete).
 * On failure the partial data dir is emptied.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { BaseBackupQuery, baseBackupCommand, type BaseBackupResult } from './base-backup.js';
import { PgControlError } from './errors.js';
import { cloneMarker, isCloneIncomplete, isEmptyDir, syncTree } from './files.js';
import type { PostgresInstance } from './instance.js';
import { prepareDir } from './os-user.js';
import { configureReplica, type UpstreamPrimary } from './replica-setup.js';
import { ensurePhysicalSlot } from './slots.js';
import { TarExtractor } from './tar-extract.js';
import { clientTlsOptions } from './tls.js';

export interface CloneSource {
  readonly host: string;
  readonly port: number;
  /** The replication role. */
  readonly user: string;
  readonly password: string;
  /** Connect timeout (default 10 s). */
  readonly connectTimeoutMs?: number;
}

export interface CloneOptions {
  readonly source: CloneSource;
  /** libpq passfile the replica's walreceiver will use (already written, service-user owned). */
  readonly passfile: string;
  /** This replica's slot on the primary (created before the backup). Omit for no slot. */
  readonly slotName?: string;
  /** application_name of the replica (default: the instance name). */
  readonly applicationName?: string;
  readonly onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Fast checkpoint on the source (default true); spread = less I/O burst, slower start. */
  readonly fastCheckpoint?: boolean;
  /**
   * Make the copy durable before declaring it complete (default true): one syncfs of the data
   * dir's filesystem at the end (see files.syncTree), not an fsync per file.
   */
  readonly fsync?: boolean;
  /** Server-side throttle in kB/s. */
  readonly maxRateKbps?: number;
  /** Map of source tablespace location → local location (required when the source has any). */
  readonly tablespaceMap?: Readonly<Record<string, string>>;
  /** Empty a non-empty target first (default false: refuse). */
  readonly overwrite?: boolean;
}

export interface CloneResult {
  readonly durationMs: number;
  /** Tar bytes received. */
  readonly bytes: number;
  /** The server's estimate before the copy (kB precision; WAL not included). */
  readonly estimatedBytes: number | null;
  readonly files: number;
  readonly startLsn: string;
  readonly endLsn: string;
  readonly timeline: number;
  readonly slotCreated: boolean;
}

/** Remove everything inside `dir` (the directory itself stays). */
export function emptyDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

function replicationClient(src: CloneSource, appName: string, ssl: ConnectionOptions): pg.Client {
  const client = new pg.Client({
    ssl,
    host: src.host,
    port: src.port,
    user: src.user,
    password: src.password,
    database: 'postgres',
    // A physical walsender: matched by `replication` in pg_hba, simple query protocol only.
    replication: true,
    application_name: appName,
    connectionTimeoutMillis: src.connectTimeoutMs ?? 10_000,
    keepAlive: true,
  } as pg.ClientConfig);
  client.on('error', () => undefined); // surfaced through the active query
  return client;
}

/**
 * Make sure `slotName` exists on the source, over the replication connection itself (so only
 * the replication role is needed): READ_REPLICATION_SLOT, then CREATE_REPLICATION_SLOT … PHYSICAL
 * (RESERVE_WAL) when missing.
 */
async function ensureSlotOverReplication(client: pg.Client, slotName: string): Promise<boolean> {
  if (!/^[a-z0-9_]{1,63}$/.test(slotName)) throw new PgControlError('PG_UNSUPPORTED', `invalid slot name ${JSON.stringify(slotName)} (use [a-z0-9_])`);
  const r = await client.query<{ slot_type: string | null }>(`READ_REPLICATION_SLOT ${slotName}`);
  if (r.rows[0]?.slot_type) {
    if (r.rows[0].slot_type !== 'physical') throw new PgControlError('PG_UNSUPPORTED', `slot ${slotName} exists but is ${r.rows[0].slot_type}`);
    return false;
  }
  try {
    await client.query(`CREATE_REPLICATION_SLOT ${slotName} PHYSICAL (RESERVE_WAL true)`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42710') return false;
    throw err;
  }
}

export async function cloneFromPrimary(target: PostgresInstance, opts: CloneOptions): Promise<CloneResult> {
  const clock = target.clock;
  const log = target.log.child({ op: 'clone' });
  const t0 = clock.now();
  if (target.isRunning || target.detect().state !== 'stopped') {
    throw new PgControlError('PG_ALREADY_RUNNING', `clone: ${target.name} is running; stop it first`);
  }
  const ssl = clientTlsOptions(target.tlsFiles());
  const dataDir = target.dataDir;
  if (!isEmptyDir(dataDir)) {
    if (!opts.overwrite) throw new PgControlError('PG_NOT_EMPTY', `clone: ${dataDir} is not empty (pass overwrite to replace it)`);
    emptyDir(dataDir);
  }
  prepareDir(dataDir, target.user, 0o700);
  fs.writeFileSync(cloneMarker(dataDir), `${new Date(clock.now()).toISOString()} from ${opts.source.host}:${opts.source.port}\n`);

  const appName = `bulwark-clone-${target.name}`;
  const client = replicationClient(opts.source, appName, ssl);
  const extractors: TarExtractor[] = [];
  let current: TarExtractor | undefined;
  let estimated: number | null = null;
  let done = 0;
  let lastDecile = -1;
  let slotCreated = false;
  const report = (final = false): void => {
    const total = final ? done : Math.max(estimated ?? 0, done);
    opts.onProgress?.(done, total);
    const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
    const decile = Math.floor(pct / 10);
    if (decile > lastDecile || final) {
      lastDecile = decile;
      log.info({ doneBytes: done, totalBytes: total }, `clone of ${target.name}: ${pct}% (${(done / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB)`);
    }
  };

  try {
    try {
      await client.connect();
    } catch (err) {
      throw new PgControlError('PG_CLONE_FAILED', `clone: cannot connect to ${opts.source.host}:${opts.source.port} as ${opts.source.user} (replication)`, [
        err instanceof Error ? err.message : String(err),
      ], { cause: err });
    }
    const ver = Number((await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]?.server_version_num ?? 0);
    if (ver < 150000) throw new PgControlError('PG_UNSUPPORTED', `clone: the source runs PostgreSQL ${ver}; 15 or newer is needed`);
    if (Math.floor(ver / 10000) !== target.binaries.version.major) {
      throw new PgControlError('PG_UNSUPPORTED', `clone: the source runs major version ${Math.floor(ver / 10000)}, these binaries are ${target.binaries.version.major}`);
    }
    if (opts.slotName) slotCreated = await ensureSlotOverReplication(client, opts.slotName);

    const query = new BaseBackupQuery(
      baseBackupCommand({
        label: `bulwark clone ${target.name}`,
        fastCheckpoint: opts.fastCheckpoint ?? true,
        ...(opts.maxRateKbps ? { maxRateKbps: opts.maxRateKbps } : {}),
      }),
      {
        onStart: (lsn, tli) => log.info({ startLsn: lsn, timeline: tli }, `base backup started at ${lsn} on timeline ${tli}`),
        onTablespaces: (rows) => {
          const sizes = rows.map((r) => r.sizeBytes);
          estimated = sizes.every((s) => s !== null) ? sizes.reduce<number>((a, b) => a + (b ?? 0), 0) : null;
          for (const r of rows) {
            if (r.location && !opts.tablespaceMap?.[r.location]) {
              throw new PgControlError('PG_UNSUPPORTED', `clone: the source has a tablespace at ${r.location}; give tablespaceMap a local location for it`);
            }
          }
          report();
        },
        onArchive: async (a) => {
          if (current) await current.end();
          let dir = dataDir;
          if (a.tablespaceLocation) {
            const mapped = opts.tablespaceMap?.[a.tablespaceLocation];
            if (!mapped) throw new PgControlError('PG_UNSUPPORTED', `clone: no local location for tablespace ${a.tablespaceLocation}`);
            dir = mapped;
            prepareDir(dir, target.user, 0o700);
          }
          current = new TarExtractor({ dir, owner: target.user, fsync: false });
          extractors.push(current);
        },
        onArchiveData: async (chunk) => {
          if (!current) throw new Error('BASE_BACKUP sent data before naming an archive');
          await current.write(chunk);
          done += chunk.length;
          report();
        },
        onEnd: (lsn) => log.info({ endLsn: lsn }, `base backup ended at ${lsn}`),
      },
    );
    let res: BaseBackupResult;
    try {
      client.query(query);
      res = await query.promise;
    } catch (err) {
      if (err instanceof PgControlError) throw err;
      throw new PgControlError('PG_CLONE_FAILED', `clone of ${target.name} from ${opts.source.host}:${opts.source.port} failed: ${err instanceof Error ? err.message : String(err)}`, [], { cause: err });
    }
    if (current) await current.end();
    current = undefined;
    report(true);

    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION')) || !fs.existsSync(path.join(dataDir, 'backup_label'))) {
      throw new PgControlError('PG_CLONE_FAILED', `clone: ${dataDir} lacks PG_VERSION or backup_label after the backup`);
    }
    // Per-node settings: the copied ones describe the source.
    target.writeConfig();
    try {
      target.writeHba();
    } catch {
      /* no rules configured: keep the source's (cluster-wide) pg_hba.conf */
    }
    const upstream: UpstreamPrimary = {
      host: opts.source.host,
      port: opts.source.port,
      user: opts.source.user,
      passfile: opts.passfile,
      applicationName: opts.applicationName ?? target.name,
      ...(opts.slotName ? { slotName: opts.slotName } : {}),
    };
    configureReplica(target, upstream);
    if (opts.fsync ?? true) {
      const ts = clock.now();
      const how = await syncTree(dataDir);
      log.debug({ how, durationMs: clock.now() - ts }, `clone: data dir synced (${how})`);
    }
    fs.rmSync(cloneMarker(dataDir), { force: true });
    const durationMs = clock.now() - t0;
    const files = extractors.reduce((a, e) => a + e.entries, 0);
    log.info({ durationMs, bytes: done, files }, `clone of ${target.name} done: ${(done / 1048576).toFixed(1)} MiB, ${files} entries in ${durationMs} ms`);
    return {
      durationMs,
      bytes: done,
      estimatedBytes: estimated,
      files,
      startLsn: res.startLsn,
      endLsn: res.endLsn,
      timeline: res.timeline,
      slotCreated,
    };
  } catch (err) {
    for (const e of extractors) await e.abort();
    emptyDir(dataDir);
    fs.rmSync(cloneMarker(dataDir), { force: true });
    log.warn({ err: err instanceof Error ? err.message : String(err) }, `clone of ${target.name} failed; data dir emptied`);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export { ensurePhysicalSlot, cloneMarker, isCloneIncomplete };
