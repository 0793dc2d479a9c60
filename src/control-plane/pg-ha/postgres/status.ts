/**
 * One round trip that tells the HA loop where a member stands.
 *
 * Timeline: on a primary, from the current WAL file name (exact right after a promotion, unlike
 * the last checkpoint's); on a replica, the walreceiver's received timeline, else the last
 * replayed checkpoint's. FIELD-NOTES: a replica's health is not the word "streaming" — compare
 * `receiver.receivedTli` with the primary's timeline and check that replay advances
 * (replicaHealth below does both against a primary's status).
 */
import type { PostgresInstance } from './instance.js';
import { parseLsnOrNull, type Lsn } from './sql.js';

export interface ReceiverStatus {
  /** streaming, catchup, waiting, starting, stopping, restarting… */
  readonly status: string;
  readonly senderHost: string | null;
  readonly senderPort: number | null;
  readonly receivedTli: number | null;
  /** Last WAL position flushed by the walreceiver. */
  readonly flushedLsn: Lsn | null;
  readonly slotName: string | null;
  readonly lastMessageAt: string | null;
}

export interface ReplicaInfo {
  readonly applicationName: string;
  readonly clientAddr: string | null;
  readonly state: string;
  readonly sentLsn: Lsn | null;
  readonly writeLsn: Lsn | null;
  readonly flushLsn: Lsn | null;
  readonly replayLsn: Lsn | null;
  /** async / potential / sync / quorum */
  readonly syncState: string;
  /** Primary's current LSN minus the replica's replay LSN. */
  readonly lagBytes: number | null;
  readonly replayLagSeconds: number | null;
}

export interface SlotSummary {
  readonly name: string;
  readonly active: boolean;
  readonly restartLsn: Lsn | null;
  readonly walStatus: string | null;
}

export interface PgStatus {
  readonly role: 'primary' | 'replica';
  readonly inRecovery: boolean;
  readonly timeline: number | null;
  readonly timelineSource: 'wal' | 'receiver' | 'checkpoint';
  /** Primary: current insert LSN. Replica: last replayed LSN (what its data reflects). */
  readonly walLsn: Lsn | null;
  /** Primary only. */
  readonly flushLsn: Lsn | null;
  /** Replica only. */
  readonly receiveLsn: Lsn | null;
  readonly replayLsn: Lsn | null;
  /** Replica: 0 when everything received is replayed, else now - last replayed commit time. */
  readonly replayLagSeconds: number | null;
  readonly replayPaused: boolean;
  readonly receiver: ReceiverStatus | null;
  /** Primary: connected standbys (pg_stat_replication). */
  readonly replicas: readonly ReplicaInfo[];
  readonly slots: readonly SlotSummary[];
  readonly synchronousStandbyNames: string;
  readonly systemIdentifier: string;
  readonly serverVersionNum: number;
  /** Server time of the snapshot (ISO). */
  readonly at: string;
}

const STATUS_SQL = `
WITH r AS (SELECT pg_is_in_recovery() AS rec)
SELECT json_build_object(
  'rec', r.rec,
  'current', CASE WHEN r.rec THEN NULL ELSE pg_current_wal_lsn()::text END,
  'flush', CASE WHEN r.rec THEN NULL ELSE pg_current_wal_flush_lsn()::text END,
  'wal_tli', CASE WHEN r.rec THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  'ckpt_tli', (SELECT timeline_id FROM pg_control_checkpoint()),
  'receive', CASE WHEN r.rec THEN pg_last_wal_receive_lsn()::text END,
  'replay', CASE WHEN r.rec THEN pg_last_wal_replay_lsn()::text END,
  'lag_s', CASE WHEN NOT r.rec THEN NULL
               WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
               ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END,
  'paused', CASE WHEN r.rec THEN pg_get_wal_replay_pause_state() <> 'not paused' ELSE false END,
  'receiver', (SELECT json_build_object('status', status, 'sender_host', sender_host, 'sender_port', sender_port,
                                        'received_tli', received_tli, 'flushed_lsn', flushed_lsn::text,
                                        'slot_name', slot_name, 'last_msg', last_msg_receipt_time)
                 FROM pg_stat_wal_receiver LIMIT 1),
  'replicas', (SELECT coalesce(json_agg(json_build_object(
                  'application_name', application_name, 'client_addr', host(client_addr), 'state', state,
                  'sent', sent_lsn::text, 'write', write_lsn::text, 'flush', flush_lsn::text, 'replay', replay_lsn::text,
                  'sync_state', sync_state,
                  'lag_bytes', CASE WHEN r.rec OR replay_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END,
                  'replay_lag', EXTRACT(EPOCH FROM replay_lag)) ORDER BY application_name), '[]'::json)
                 FROM pg_stat_replication),
  'slots', (SELECT coalesce(json_agg(json_build_object('name', slot_name, 'active', active, 'restart_lsn', restart_lsn::text,
                   'wal_status', wal_status) ORDER BY slot_name), '[]'::json)
              FROM pg_replication_slots WHERE slot_type = 'physical'),
  'sync_names', current_setting('synchronous_standby_names'),
  'sysid', (SELECT system_identifier::text FROM pg_control_system()),
  'version', current_setting('server_version_num')::int,
  'at', now()
) AS s
FROM r`;

interface RawStatus {
  rec: boolean;
  current: string | null;
  flush: string | null;
  wal_tli: number | null;
  ckpt_tli: number | null;
  receive: string | null;
  replay: string | null;
  lag_s: number | string | null;
  paused: boolean;
  receiver: {
    status: string;
    sender_host: string | null;
    sender_port: number | null;
    received_tli: number | null;
    flushed_lsn: string | null;
    slot_name: string | null;
    last_msg: string | null;
  } | null;
  replicas: Array<{
    application_name: string;
    client_addr: string | null;
    state: string;
    sent: string | null;
    write: string | null;
    flush: string | null;
    replay: string | null;
    sync_state: string;
    lag_bytes: number | string | null;
    replay_lag: number | string | null;
  }>;
  slots: Array<{ name: string; active: boolean; restart_lsn: string | null; wal_status: string | null }>;
  sync_names: string;
  sysid: string;
  version: number;
  at: string;
}

const num = (v: number | string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

export function statusFromRaw(s: RawStatus): PgStatus {
  const rec = s.rec;
  let timeline: number | null;
  let timelineSource: PgStatus['timelineSource'];
  if (!rec) {
    timeline = s.wal_tli;
    timelineSource = 'wal';
  } else if (s.receiver?.received_tli) {
    timeline = s.receiver.received_tli;
    timelineSource = 'receiver';
  } else {
    timeline = s.ckpt_tli;
    timelineSource = 'checkpoint';
  }
  return {
    role: rec ? 'replica' : 'primary',
    inRecovery: rec,
    timeline,
    timelineSource,
    walLsn: rec ? parseLsnOrNull(s.replay) : parseLsnOrNull(s.current),
    flushLsn: parseLsnOrNull(s.flush),
    receiveLsn: parseLsnOrNull(s.receive),
    replayLsn: parseLsnOrNull(s.replay),
    replayLagSeconds: num(s.lag_s),
    replayPaused: s.paused === true,
    receiver: s.receiver
      ? {
          status: s.receiver.status,
          senderHost: s.receiver.sender_host,
          senderPort: s.receiver.sender_port,
          receivedTli: s.receiver.received_tli,
          flushedLsn: parseLsnOrNull(s.receiver.flushed_lsn),
          slotName: s.receiver.slot_name,
          lastMessageAt: s.receiver.last_msg,
        }
      : null,
    replicas: s.replicas.map((r) => ({
      applicationName: r.application_name,
      clientAddr: r.client_addr,
      state: r.state,
      sentLsn: parseLsnOrNull(r.sent),
      writeLsn: parseLsnOrNull(r.write),
      flushLsn: parseLsnOrNull(r.flush),
      replayLsn: parseLsnOrNull(r.replay),
      syncState: r.sync_state,
      lagBytes: num(r.lag_bytes),
      replayLagSeconds: num(r.replay_lag),
    })),
    slots: s.slots.map((x) => ({ name: x.name, active: x.active, restartLsn: parseLsnOrNull(x.restart_lsn), walStatus: x.wal_status })),
    synchronousStandbyNames: s.sync_names,
    systemIdentifier: s.sysid,
    serverVersionNum: s.version,
    at: s.at,
  };
}

export async function readStatus(instance: PostgresInstance): Promise<PgStatus> {
  const [row] = await instance.query<{ s: RawStatus }>(STATUS_SQL);
  if (!row) throw new Error('status query returned no row');
  return statusFromRaw(row.s);
}

export interface ReplicaHealth {
  /** Same system, streaming on the primary's timeline, close enough. */
  readonly healthy: boolean;
  readonly reasons: string[];
  readonly lagBytes: number | null;
}

/**
 * Judge a replica against its primary's status: same system identifier, a walreceiver that
 * streams on the primary's timeline, and a lag below `maxLagBytes`. (That replay *advances*
 * needs two samples: compare `replayLsn` across calls.)
 */
export function replicaHealth(replica: PgStatus, primary: PgStatus, maxLagBytes = 16 * 1024 * 1024): ReplicaHealth {
  const reasons: string[] = [];
  if (!replica.inRecovery) reasons.push('not in recovery');
  if (replica.systemIdentifier !== primary.systemIdentifier) reasons.push('different system identifier');
  if (!replica.receiver) reasons.push('no walreceiver');
  else {
    if (replica.receiver.status !== 'streaming') reasons.push(`walreceiver ${replica.receiver.status}`);
    if (replica.receiver.receivedTli !== primary.timeline) {
      reasons.push(`received timeline ${replica.receiver.receivedTli} ≠ primary timeline ${primary.timeline}`);
    }
  }
  const lagBytes = primary.walLsn && replica.replayLsn ? Math.max(0, primary.walLsn.bytes - replica.replayLsn.bytes) : null;
  if (lagBytes === null) reasons.push('lag unknown');
  else if (lagBytes > maxLagBytes) reasons.push(`lag ${lagBytes} bytes > ${maxLagBytes}`);
  return { healthy: reasons.length === 0, reasons, lagBytes };
}


