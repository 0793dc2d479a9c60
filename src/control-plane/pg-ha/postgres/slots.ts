/**
 * Physical replication slots on a primary: one per replica, created BEFORE the replica's base
 * backup (with WAL reserved at once) so the primary keeps every segment the replica still needs.
 * A replica's slot is not replicated: after a promotion the new primary needs slots for the
 * remaining replicas (the HA loop calls ensurePhysicalSlot there).
 */
import type pg from 'pg';
import type { PostgresInstance } from './instance.js';
import { parseLsnOrNull, type Lsn } from './sql.js';

export interface SlotInfo {
  readonly name: string;
  readonly type: string;
  readonly active: boolean;
  readonly restartLsn: Lsn | null;
  /** reserved / extended / unreserved / lost */
  readonly walStatus: string | null;
}

type Queryable = Pick<PostgresInstance, 'query'> | pg.Client;

async function rows<R extends pg.QueryResultRow>(q: Queryable, sql: string, params: unknown[]): Promise<R[]> {
  if ('connect' in q) return (await q.query<R>(sql, params)).rows;
  return q.query<R>(sql, params);
}

/** Create the slot if missing (idempotent, safe against a concurrent create). */
export async function ensurePhysicalSlot(q: Queryable, name: string): Promise<{ created: boolean }> {
  const have = await rows(q, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [name]);
  if (have.length > 0) return { created: false };
  try {
    await rows(q, 'SELECT pg_create_physical_replication_slot($1, true)', [name]);
    return { created: true };
  } catch (err) {
    if ((err as { code?: string }).code === '42710') return { created: false }; // duplicate_object
    throw err;
  }
}

/** Drop the slot if it exists and is not in use; returns whether it was dropped. */
export async function dropSlot(q: Queryable, name: string): Promise<boolean> {
  const r = await rows<{ dropped: boolean }>(
    q,
    `SELECT pg_drop_replication_slot(slot_name) IS NOT NULL AS dropped
       FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`,
    [name],
  );
  return r.length > 0;
}

export async function listSlots(q: Queryable): Promise<SlotInfo[]> {
  const r = await rows<{ slot_name: string; slot_type: string; active: boolean; restart_lsn: string | null; wal_status: string | null }>(
    q,
    'SELECT slot_name, slot_type, active, restart_lsn::text, wal_status FROM pg_replication_slots ORDER BY slot_name',
    [],
  );
  return r.map((s) => ({
    name: s.slot_name,
    type: s.slot_type,
    active: s.active,
    restartLsn: parseLsnOrNull(s.restart_lsn),
    walStatus: s.wal_status,
  }));
}
