/**
 * How the agent talks SQL to its own member: one shared admin connection (opened lazily, dropped
 * and reopened after a connection-level failure) that runs one statement at a time, in order —
 * the HA loop, the agent API and the metrics all ask at once — plus dedicated short-lived
 * connections for long or session-changing work.
 */
import pg from 'pg';
import { sleep, type Clock } from '../../../core/clock.js';
import type { Logger } from '../../../core/log.js';
import type { QueryOptions } from './instance-types.js';

const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;

export class SqlConnection {
  private admin: Promise<pg.Client> | undefined;
  private turn: Promise<void> = Promise.resolve();

  constructor(
    /** pg client settings for the superuser over the member's socket, with `extra` on top. */
    private readonly config: (extra?: pg.ClientConfig) => pg.ClientConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /**
   * Run one statement on the shared admin connection (statement_timeout 15 s) and return its
   * rows. Parameters use the extended protocol; without them the simple protocol runs (several
   * statements allowed, the last result's rows are returned).
   */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    const run = this.turn.then(() => this.run<R>(sql, params));
    this.turn = run.then(() => undefined, () => undefined);
    return run;
  }

  private async run<R extends pg.QueryResultRow>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    const client = await this.adminClient();
    try {
      const res = await client.query<R>(sql, params as unknown[] | undefined);
      const last = Array.isArray(res) ? (res as pg.QueryResult<R>[])[(res as unknown[]).length - 1] : res;
      return last?.rows ?? [];
    } catch (err) {
      // A server error (SQLSTATE) leaves the connection usable; anything else does not.
      if (!(err instanceof Error && 'code' in err && typeof (err as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((err as { code: string }).code))) {
        this.drop();
      }
      throw err;
    }
  }

  /** A dedicated short-lived connection. */
  async withClient<T>(fn: (c: pg.Client) => Promise<T>, opts: QueryOptions = {}): Promise<T> {
    const stm = opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    const client = new pg.Client(this.config({ ...(stm > 0 ? { statement_timeout: stm } : {}), ...(opts.database ? { database: opts.database } : {}) }));
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Close the shared connection (before a smart shutdown, and when done with the member). */
  async close(): Promise<void> {
    const p = this.admin;
    this.admin = undefined;
    if (!p) return;
    let c: pg.Client;
    try {
      c = await p;
    } catch {
      return; // never connected
    }
    // A hung server must not hang a stop: give the polite goodbye 2 s, then drop the socket.
    const ended = await Promise.race([c.end().then(() => true, () => true), sleep(this.clock, 2_000).then(() => false)]);
    if (!ended) (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }

  private adminClient(): Promise<pg.Client> {
    if (!this.admin) {
      const client = new pg.Client(this.config({ statement_timeout: DEFAULT_STATEMENT_TIMEOUT_MS }));
      const p = client.connect().then(() => client);
      const drop = (): void => {
        if (this.admin === p) this.admin = undefined;
      };
      client.on('error', (err) => {
        this.log.debug({ err: err.message }, 'admin connection lost');
        drop();
      });
      client.on('end', drop);
      p.catch(drop);
      this.admin = p;
    }
    return this.admin;
  }

  /** Forget the shared connection (the server went away); the next query opens a new one. */
  drop(): void {
    const p = this.admin;
    this.admin = undefined;
    p?.then((c) => c.end().catch(() => undefined)).catch(() => undefined);
  }
}
