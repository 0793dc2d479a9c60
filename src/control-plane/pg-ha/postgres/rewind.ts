/**
 * Bring a former primary back as a replica of the new one with pg_rewind (system binaries only:
 * the npm package has no pg_rewind — then `has.pgRewind` is false and the caller re-clones).
 *
 * FIELD-NOTES traps handled here:
 *  - CHECKPOINT on the source (the new primary) first: right after a promotion its control file
 *    still shows the old timeline and pg_rewind can wrongly conclude "no rewind required",
 *    leaving a diverged replica that flickers as "streaming".
 *  - After the rewind every per-node setting is rewritten: pg_rewind copies the source's
 *    configuration files (postgresql.conf, postgresql.auto.conf, pg_hba.conf…).
 *  - pg_rewind needs wal_log_hints or checksums (we have both) and the WAL since the divergence
 *    still on the target (wal_keep_size).
 * A target that was not shut down cleanly is first taken through crash recovery by pg_rewind
 * itself (single-user mode; PostgreSQL 13+).
 * Both connections to the source (our CHECKPOINT, pg_rewind's) are TLS, verify-full against the
 * cluster CA, with the target member's certificate (instance.tlsFiles()).
 */
import pg from 'pg';
import { readControlFile } from './control-file.js';
import { PgControlError } from './errors.js';
import type { PostgresInstance } from './instance.js';
import { configureReplica, type UpstreamPrimary } from './replica-setup.js';
import { buildConninfo } from './sql.js';
import { clientTlsOptions, clientTlsParams, type TlsFiles } from './tls.js';

export interface RewindSource {
  readonly host: string;
  readonly port: number;
  /** A role with the pg_rewind grants and pg_checkpoint (bootstrap's `rewind` role). */
  readonly user: string;
  /** For our CHECKPOINT connection (pg_rewind itself reads `passfile`). */
  readonly password: string;
  /** libpq passfile with that role's password, readable by the service user. */
  readonly passfile: string;
  readonly database?: string;
}

export interface RewindResult {
  readonly durationMs: number;
  /** False when pg_rewind found the target already on the source's history. */
  readonly rewound: boolean;
  readonly output: string[];
}

export function rewindAvailable(instance: PostgresInstance): boolean {
  return instance.binaries.has.pgRewind;
}

/** CHECKPOINT on the source so its control file carries the new timeline. */
export async function checkpointSource(src: RewindSource, tls: TlsFiles): Promise<void> {
  const client = new pg.Client({
    ssl: clientTlsOptions(tls),
    host: src.host,
    port: src.port,
    user: src.user,
    password: src.password,
    database: src.database ?? 'postgres',
    connectionTimeoutMillis: 10_000,
    application_name: 'bulwark-rewind',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Rewind the (stopped) target onto the source's timeline, then configure it as a replica of
 * `upstream` (the same server, through the replication role).
 */
export async function rewind(
  instance: PostgresInstance,
  source: RewindSource,
  upstream: UpstreamPrimary,
  opts: { timeoutMs?: number } = {},
): Promise<RewindResult> {
  const t0 = instance.clock.now();
  if (!rewindAvailable(instance)) {
    throw new PgControlError('PG_REWIND_UNAVAILABLE', `pg_rewind is not in ${instance.binaries.binDir}: re-clone ${instance.name} instead`);
  }
  if (instance.detect().state !== 'stopped') throw new PgControlError('PG_ALREADY_RUNNING', `rewind: stop ${instance.name} first`);
  const before = readControlFile(instance.dataDir);
  const tls = instance.tlsFiles();
  try {
    await checkpointSource(source, tls);
  } catch (err) {
    throw new PgControlError('PG_REWIND_FAILED', `rewind: CHECKPOINT on the source ${source.host}:${source.port} failed`, [String(err)], { cause: err });
  }
  const conninfo = buildConninfo({
    host: source.host,
    port: source.port,
    user: source.user,
    passfile: source.passfile,
    dbname: source.database ?? 'postgres',
    connect_timeout: 10,
    application_name: 'pg_rewind',
    ...clientTlsParams(tls),
  });
  instance.log.info({ state: before?.state, timeline: before?.checkpointTimeline }, `pg_rewind ${instance.name} from ${source.host}:${source.port}`);
  const { code, output } = await instance.runProgram(
    'pg_rewind',
    ['-D', instance.dataDir, `--source-server=${conninfo}`, '--progress'],
    opts.timeoutMs ?? 600_000,
  );
  if (code !== 0) {
    throw new PgControlError('PG_REWIND_FAILED', `pg_rewind exited with code ${code} for ${instance.name}`, output.slice(-15));
  }
  const rewound = !output.some((l) => /no rewind required/i.test(l));
  // pg_rewind copied the source's configuration files: rewrite ours.
  instance.writeConfig();
  try {
    instance.writeHba();
  } catch {
    /* no rules configured */
  }
  configureReplica(instance, upstream);
  const durationMs = instance.clock.now() - t0;
  instance.log.info({ durationMs, rewound }, rewound ? `rewound ${instance.name} in ${durationMs} ms` : `${instance.name}: no rewind required`);
  return { durationMs, rewound, output };
}
