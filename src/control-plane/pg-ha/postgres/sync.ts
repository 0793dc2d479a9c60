/**
 * synchronous_standby_names, managed by the HA loop through ALTER SYSTEM + pg_reload_conf()
 * (postgresql.auto.conf, never the static file).
 *
 * FIELD-NOTES: with a sync standby configured and none connected a commit blocks forever —
 * statement_timeout does not end it; clearing the list and reloading releases the waiting
 * commits in ≈ 90 ms. A cancelled wait returns *success* to the client with a warning: such a
 * write is only local. Whether a standby is safe to promote without loss is the HA loop's call.
 */
import { sleep } from '../../../core/clock.js';
import { PgControlError } from './errors.js';
import type { PostgresInstance } from './instance.js';
import { quoteLiteral } from './sql.js';

export interface SyncSpec {
  /** `ANY` (quorum, default) or `FIRST` (priority). */
  readonly method?: 'ANY' | 'FIRST';
  /** How many of `names` must confirm (default 1). */
  readonly num?: number;
  /** application_name of the standbys (the member names). */
  readonly names: readonly string[];
}

/** `ANY 1 ("db-2", "db-3")`, or '' for no synchronous replication. */
export function formatSyncStandbyNames(spec: SyncSpec | null): string {
  if (!spec || spec.names.length === 0) return '';
  const num = spec.num ?? 1;
  if (!Number.isInteger(num) || num < 1 || num > spec.names.length) throw new Error(`sync: num must be 1..${spec.names.length}, got ${num}`);
  const names = spec.names.map((n) => {
    if (n.length === 0 || /["\0]/.test(n)) throw new Error(`sync: bad standby name ${JSON.stringify(n)}`);
    return `"${n}"`;
  });
  return `${spec.method ?? 'ANY'} ${num} (${names.join(', ')})`;
}

/** Parse the forms we write (and the common bare ones); null when empty. */
export function parseSyncStandbyNames(raw: string): { method: 'ANY' | 'FIRST'; num: number; names: string[] } | null {
  const s = raw.trim();
  if (s === '') return null;
  const m = /^(ANY|FIRST)?\s*(\d+)?\s*\((.*)\)\s*$/i.exec(s);
  const list = m ? m[3]! : s;
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .map((n) => (n.startsWith('"') && n.endsWith('"') ? n.slice(1, -1).replace(/""/g, '"') : n));
  const method = m?.[1] ? (m[1].toUpperCase() as 'ANY' | 'FIRST') : 'FIRST';
  const num = m?.[2] ? Number(m[2]) : 1;
  return { method, num, names };
}

export interface SyncState {
  /** The value in effect for a fresh session. */
  readonly raw: string;
  readonly parsed: ReturnType<typeof parseSyncStandbyNames>;
  /** What pg_stat_replication says now, per standby. */
  readonly standbys: ReadonlyArray<{ name: string; syncState: string; state: string }>;
}

/**
 * Set the list and reload; resolves when a new session sees the new value (the reload is
 * asynchronous). `null` or no names clears it (asynchronous replication).
 */
export async function setSynchronousStandbys(instance: PostgresInstance, spec: SyncSpec | null, opts: { timeoutMs?: number } = {}): Promise<SyncState> {
  const value = formatSyncStandbyNames(spec);
  if (value === '') await instance.query('ALTER SYSTEM RESET synchronous_standby_names');
  else await instance.query(`ALTER SYSTEM SET synchronous_standby_names = ${quoteLiteral(value)}`);
  await instance.query('SELECT pg_reload_conf()');
  const deadline = instance.clock.now() + (opts.timeoutMs ?? 5_000);
  for (;;) {
    const state = await readSynchronousStandbys(instance);
    if (state.raw === value) {
      instance.log.info({ synchronous_standby_names: value }, value ? `synchronous standbys: ${value}` : 'synchronous replication off');
      return state;
    }
    if (instance.clock.now() >= deadline) {
      throw new PgControlError('PG_TIMEOUT', `synchronous_standby_names still "${state.raw}" after reload (wanted "${value}")`);
    }
    await sleep(instance.clock, 20);
  }
}

/** Read back the value (from a fresh session, so the shared one's stale GUC does not lie). */
export async function readSynchronousStandbys(instance: PostgresInstance): Promise<SyncState> {
  return instance.withClient(async (c) => {
    const raw = String((await c.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v")).rows[0]?.v ?? '');
    const st = await c.query<{ application_name: string; sync_state: string; state: string }>(
      'SELECT application_name, sync_state, state FROM pg_stat_replication ORDER BY application_name',
    );
    return {
      raw,
      parsed: parseSyncStandbyNames(raw),
      standbys: st.rows.map((r) => ({ name: r.application_name, syncState: r.sync_state, state: r.state })),
    };
  }, { statementTimeoutMs: 5_000 });
}
