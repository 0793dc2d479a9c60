/**
 * A db member's metrics: role, timeline, connections, commits, replication lag (bytes and
 * seconds), WAL retained by slots and sync state. The HA loop's last observation answers what it
 * already knows; the rest comes from one small query per scrape on its own short connection (never
 * the HA loop's, so a slow scrape cannot delay a lock renewal), shared by every gauge of the
 * scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the db role tells the metrics (kept free of HA-loop types). */
export interface PgMetricsSource {
  /** absent / stopped / starting / primary / replica. */
  role(): string;
  /** Lock-holding primary. */
  isLeader(): boolean;
  timeline(): number | undefined;
  /** Replica: streaming from the current leader. Undefined on a primary or when not running. */
  streaming(): boolean | undefined;
  /** Replica: named a sync standby by the DCS. Undefined on a primary or when not running. */
  syncStandby(): boolean | undefined;
  /** The primary's WAL position (bytes) as last published in the DCS. */
  leaderLsn(): number | undefined;
  /** Run the metrics query (on a connection of its own); rejects when PostgreSQL does not answer. */
  query<R>(sql: string): Promise<R[]>;
  now(): number;
}

export const PG_METRICS_SQL = `
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int AS connections,
       (SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database)::float8 AS commits,
       (SELECT coalesce(sum(xact_rollback), 0) FROM pg_stat_database)::float8 AS rollbacks,
       pg_is_in_recovery() AS recovery,
       CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::float8
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 END AS lsn,
       (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_at,
       (SELECT coalesce(json_agg(json_build_object('slot', slot_name,
                 'retained', CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL
                                  ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 END)), '[]'::json)
          FROM pg_replication_slots) AS slots,
       (SELECT coalesce(json_agg(json_build_object('name', application_name, 'sync', sync_state,
                 'lag', CASE WHEN replay_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END)), '[]'::json)
          FROM pg_stat_replication) AS standbys`;

interface Row {
  connections: number;
  commits: number;
  rollbacks: number;
  recovery: boolean;
  lsn: number | null;
  replay_at: number | null;
  slots: { slot: string; retained: number | null }[];
  standbys: { name: string; sync: string; lag: number | null }[];
}

/**
 * Seconds a replica is behind, such that an idle primary does not make it look lagged: 0 when it
 * has replayed everything the primary has written (its replay position has reached the primary's),
 * else the time since the last transaction it replayed was committed on the primary, bounded by
 * the time since it was last seen caught up. Without that bound the first write after a quiet
 * spell would read as the whole spell: the last replayed commit is hours old while the replica
 * is a few bytes behind for a moment. Everything it lacks was written after it was last caught
 * up (give or take how stale the primary's published position was), so that is a true upper
 * bound; the commit age is the other one (a busy primary: the replica is never seen caught up,
 * but replays a commit every few ms). Undefined when either position is unknown, or when it is
 * behind with neither bound known.
 */
export function replicationLagSeconds(o: {
  primaryLsn: number | undefined;
  replayLsn: number | undefined;
  lastReplayedCommitAt: number | undefined;
  /** When the replica was last seen with its replay position at the primary's (undefined: never). */
  caughtUpAt?: number | undefined;
  now: number;
}): number | undefined {
  if (o.primaryLsn === undefined || o.replayLsn === undefined) return undefined;
  if (o.replayLsn >= o.primaryLsn) return 0;
  const since = [o.lastReplayedCommitAt, o.caughtUpAt].filter((t): t is number => t !== undefined);
  if (since.length === 0) return undefined;
  return Math.max(0, (o.now - Math.max(...since)) / 1000);
}

/**
 * The lag in seconds across scrapes: remembers when the replica was last seen caught up, which
 * bounds the lag after a quiet spell (replicationLagSeconds). The memory is per process: after a
 * restart, or when nobody scraped for a long time, the commit age alone answers until the
 * replica is seen caught up once.
 */
export class ReplicationLag {
  private caughtUpAt: number | undefined;

  observe(o: { primaryLsn: number | undefined; replayLsn: number | undefined; lastReplayedCommitAt: number | undefined; now: number }): number | undefined {
    const lag = replicationLagSeconds({ ...o, caughtUpAt: this.caughtUpAt });
    if (o.replayLsn !== undefined && o.primaryLsn !== undefined && o.replayLsn >= o.primaryLsn) this.caughtUpAt = o.now;
    return lag;
  }
}

const ROLES = ['primary', 'replica', 'starting', 'stopped', 'absent'] as const;

/**
 * An unlabelled metric that is absent while its value is unknown: prom-client re-creates the
 * value 0 on reset(), and a 0 would say something false (timeline 0, not streaming, no commits).
 */
function setOrAbsent(m: Gauge | Counter, v: number | undefined): void {
  m.reset();
  if (v === undefined) m.remove();
  else if (m instanceof Gauge) m.set(v);
  else m.inc(v);
}

export function registerPgMetrics(registry: Registry, src: PgMetricsSource): void {
  let inFlight: { at: number; p: Promise<Row | undefined> } | undefined;
  // Every gauge's collect runs in parallel on one scrape: the first one asks, the rest share it.
  const sample = (): Promise<Row | undefined> => {
    const now = src.now();
    if (inFlight && now - inFlight.at < 250) return inFlight.p;
    const p = src.role() === 'primary' || src.role() === 'replica'
      ? src.query<Row>(PG_METRICS_SQL).then((rows) => rows[0], () => undefined)
      : Promise.resolve(undefined);
    inFlight = { at: now, p };
    return p;
  };
  const reg = [registry];
  new Gauge({ name: 'bulwark_pg_up', help: '1 when PostgreSQL answers the metrics query', registers: reg,
    async collect() { this.set((await sample()) ? 1 : 0); } });
  new Gauge({ name: 'bulwark_pg_primary', help: '1 when this member is the lock-holding primary', registers: reg,
    collect() { this.set(src.isLeader() && src.role() === 'primary' ? 1 : 0); } });
  // Labelled `state`, not `role`: every series of a node already carries role="db" (its node role).
  new Gauge({ name: 'bulwark_pg_role', help: '1 for the current state of this member (primary, replica, starting, stopped, absent)', labelNames: ['state'], registers: reg,
    collect() { const r = src.role(); for (const x of ROLES) this.set({ state: x }, x === r ? 1 : 0); } });
  new Gauge({ name: 'bulwark_pg_timeline', help: 'PostgreSQL timeline of this member (absent while unknown)', registers: reg,
    collect() { setOrAbsent(this, src.timeline()); } });
  new Gauge({ name: 'bulwark_pg_connections', help: 'Client connections to this member', registers: reg,
    async collect() { setOrAbsent(this, (await sample())?.connections); } });
  new Counter({ name: 'bulwark_pg_commits_total', help: 'Transactions committed on this member (every database, since its statistics were reset)', registers: reg,
    async collect() { setOrAbsent(this, (await sample())?.commits); } });
  new Counter({ name: 'bulwark_pg_rollbacks_total', help: 'Transactions rolled back on this member', registers: reg,
    async collect() { setOrAbsent(this, (await sample())?.rollbacks); } });
  new Gauge({ name: 'bulwark_pg_replication_lag_bytes', help: 'Replica: WAL bytes the primary has written that this member has not replayed', registers: reg,
    async collect() {
      const r = await sample();
      const primary = src.leaderLsn();
      setOrAbsent(this, r?.recovery && r.lsn !== null && primary !== undefined ? Math.max(0, primary - r.lsn) : undefined);
    } });
  const lagSeconds = new ReplicationLag();
  new Gauge({ name: 'bulwark_pg_replication_lag_seconds', help: 'Replica: 0 when caught up with the primary, else seconds since the last replayed commit was made (at most since it was last caught up)', registers: reg,
    async collect() {
      const r = await sample();
      setOrAbsent(this, r?.recovery
        ? lagSeconds.observe({ primaryLsn: src.leaderLsn(), replayLsn: r.lsn ?? undefined, lastReplayedCommitAt: r.replay_at ?? undefined, now: src.now() })
        : undefined);
    } });
  new Gauge({ name: 'bulwark_pg_replica_streaming', help: 'Replica: 1 while streaming from the current primary', registers: reg,
    collect() { const s = src.streaming(); setOrAbsent(this, s === undefined ? undefined : Number(s)); } });
  new Gauge({ name: 'bulwark_pg_sync_standby', help: 'Replica: 1 while the DCS names it a synchronous standby', registers: reg,
    collect() { const s = src.syncStandby(); setOrAbsent(this, s === undefined ? undefined : Number(s)); } });
  new Gauge({ name: 'bulwark_pg_standbys_streaming', help: 'Primary: replicas streaming from it', registers: reg,
    async collect() { const r = await sample(); setOrAbsent(this, r && !r.recovery ? r.standbys.length : undefined); } });
  new Gauge({ name: 'bulwark_pg_standby_sync', help: 'Primary: 1 for each standby PostgreSQL treats as synchronous (sync or quorum)', labelNames: ['standby', 'state'], registers: reg,
    async collect() {
      this.reset();
      const r = await sample();
      if (r && !r.recovery) for (const s of r.standbys) this.set({ standby: s.name, state: s.sync }, s.sync === 'sync' || s.sync === 'quorum' ? 1 : 0);
    } });
  new Gauge({ name: 'bulwark_pg_standby_lag_bytes', help: 'Primary: WAL bytes each standby has not replayed yet', labelNames: ['standby'], registers: reg,
    async collect() {
      this.reset();
      const r = await sample();
      if (r && !r.recovery) for (const s of r.standbys) if (s.lag !== null) this.set({ standby: s.name }, s.lag);
    } });
  new Gauge({ name: 'bulwark_pg_slot_retained_wal_bytes', help: 'Primary: WAL kept on disk for each replication slot', labelNames: ['slot'], registers: reg,
    async collect() {
      this.reset();
      const r = await sample();
      if (r && !r.recovery) for (const s of r.slots) if (s.retained !== null) this.set({ slot: s.slot }, s.retained);
    } });
}
