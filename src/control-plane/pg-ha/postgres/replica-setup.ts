/**
 * Make a member a replica of a primary, or point a running replica at a new one.
 *
 * - Stopped: `standby.signal` + postgresql.auto.conf { primary_conninfo, primary_slot_name,
 *   recovery_target_timeline = 'latest' } (configureReplica).
 * - Running: ALTER SYSTEM SET primary_conninfo / primary_slot_name + pg_reload_conf(): the
 *   walreceiver restarts on the new primary without a server restart, and follows the new
 *   timeline (recovery_target_timeline = latest) (repoint).
 *
 * The conninfo never carries a password: it names the passfile (bootstrap.writeMemberPassfile).
 * It always asks for TLS verified against the cluster CA and the primary's address (verify-full)
 * and presents this replica's certificate: the replica's own files (instance.tlsFiles()).
 */
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../../core/clock.js';
import { readAutoConf } from './conf.js';
import { PgControlError } from './errors.js';
import { writeOwnedFile } from './files.js';
import type { PostgresInstance } from './instance.js';
import { buildConninfo, quoteLiteral } from './sql.js';
import { clientTlsParams, type TlsFiles } from './tls.js';

export interface UpstreamPrimary {
  readonly host: string;
  readonly port: number;
  /** The replication role. */
  readonly user: string;
  /** libpq passfile holding the replication role's password (readable by the service user). */
  readonly passfile: string;
  /** This replica's name as the primary sees it (synchronous_standby_names matches on it). */
  readonly applicationName: string;
  /** This replica's physical slot on the primary (create it there first: slots.ts). */
  readonly slotName?: string;
  readonly connectTimeoutSeconds?: number;
}

export function primaryConninfo(up: UpstreamPrimary, tls: TlsFiles): string {
  return buildConninfo({
    host: up.host,
    port: up.port,
    user: up.user,
    passfile: up.passfile,
    application_name: up.applicationName,
    dbname: 'replication',
    connect_timeout: up.connectTimeoutSeconds ?? 5,
    keepalives: 1,
    keepalives_idle: 5,
    keepalives_interval: 2,
    keepalives_count: 3,
    ...clientTlsParams(tls),
  });
}

/** Replica settings for postgresql.auto.conf. */
export function replicaAutoConf(up: UpstreamPrimary, tls: TlsFiles): Record<string, string> {
  return {
    primary_conninfo: primaryConninfo(up, tls),
    primary_slot_name: up.slotName ?? '',
    recovery_target_timeline: 'latest',
  };
}

/**
 * Server stopped: write standby.signal and the replica settings into postgresql.auto.conf,
 * dropping every other key it held except `keep` (sync settings are meaningless on a replica).
 */
export function configureReplica(instance: PostgresInstance, up: UpstreamPrimary, keep: readonly string[] = []): void {
  if (instance.isRunning) throw new PgControlError('PG_UNSUPPORTED', 'configureReplica needs the server stopped: use repoint()');
  instance.rewriteAutoConf(replicaAutoConf(up, instance.tlsFiles()), keep);
  writeOwnedFile(path.join(instance.dataDir, 'standby.signal'), '', instance.user, 0o600);
}

/**
 * Server stopped: make the next start a primary (remove standby.signal, clear the upstream).
 * Normally promotion is done online with promote(); this is for a member that must come up as
 * primary from a stopped state (e.g. a bootstrap from a restored copy).
 */
export function configurePrimary(instance: PostgresInstance): void {
  if (instance.isRunning) throw new PgControlError('PG_UNSUPPORTED', 'configurePrimary needs the server stopped');
  fs.rmSync(path.join(instance.dataDir, 'standby.signal'), { force: true });
  const cur = readAutoConf(instance.dataDir);
  const keep = [...cur.keys()].filter((k) => !['primary_conninfo', 'primary_slot_name'].includes(k));
  instance.rewriteAutoConf({}, keep);
}

export interface RepointOptions {
  /** Wait until the walreceiver streams from the new host (default: don't wait). */
  readonly waitStreamingMs?: number;
}

/** Running replica: switch upstream via ALTER SYSTEM + reload (no restart). */
export async function repoint(instance: PostgresInstance, up: UpstreamPrimary, opts: RepointOptions = {}): Promise<{ durationMs: number }> {
  const clock = instance.clock;
  const t0 = clock.now();
  if (!(await instance.isInRecovery())) throw new PgControlError('PG_UNSUPPORTED', `repoint: ${instance.name} is not a replica`);
  const conf = replicaAutoConf(up, instance.tlsFiles());
  for (const [k, v] of Object.entries(conf)) await instance.query(`ALTER SYSTEM SET ${k} = ${quoteLiteral(v)}`);
  await instance.query('SELECT pg_reload_conf()');
  if (opts.waitStreamingMs) {
    const deadline = clock.now() + opts.waitStreamingMs;
    for (;;) {
      const rows = await instance.query<{ status: string; sender_host: string | null; sender_port: number | null }>(
        'SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver',
      );
      const r = rows[0];
      if (r && r.status === 'streaming' && r.sender_host === up.host && Number(r.sender_port) === up.port) break;
      if (clock.now() >= deadline) {
        throw new PgControlError('PG_TIMEOUT', `repoint: ${instance.name} not streaming from ${up.host}:${up.port} within ${opts.waitStreamingMs} ms`, [
          `walreceiver: ${r ? `${r.status} from ${r.sender_host}:${r.sender_port}` : 'not running'}`,
          ...instance.logTail(5),
        ]);
      }
      await sleep(clock, 25);
    }
  }
  return { durationMs: clock.now() - t0 };
}

/** The upstream currently configured in postgresql.auto.conf (stopped or running). */
export function configuredUpstream(instance: PostgresInstance): { conninfo?: string; slotName?: string } {
  const conf = readAutoConf(instance.dataDir);
  const conninfo = conf.get('primary_conninfo');
  const slotName = conf.get('primary_slot_name');
  return { ...(conninfo ? { conninfo } : {}), ...(slotName ? { slotName } : {}) };
}

/** Server log lines saying a replica cannot follow its upstream's timeline (lc_messages is C). */
const REFUSALS = /forked off current database system timeline|is not in this server's history|is not a child of|database system identifier differs|is ahead of the WAL flush position/;

/** PostgreSQL's own words, among these log lines, for why the replica cannot follow (latest first). */
export function followRefusal(lines: readonly string[]): string | undefined {
  const line = [...lines].reverse().find((l) => REFUSALS.test(l));
  return line?.slice(Math.max(0, line.search(/(FATAL|ERROR|LOG):/)));
}
