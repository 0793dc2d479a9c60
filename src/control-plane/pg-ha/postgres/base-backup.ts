/**
 * The replication-protocol BASE_BACKUP command run through a `pg` Client, without
 * pg_basebackup. `pg-copy-streams` cannot do it (the server sends ordinary result sets before
 * the CopyOut), so this is a small custom Submittable that takes the raw protocol messages.
 *
 * PostgreSQL 15+ answers `BASE_BACKUP (…)` with (protocol docs, "Streaming Replication
 * Protocol"):
 *
 *   result set 1   start LSN, timeline
 *   result set 2   one row per tablespace: spcoid, spclocation, size (kB, when PROGRESS)
 *   CopyOutResponse, then CopyData messages whose first byte says what they hold:
 *       'n' new archive: archive name \0, tablespace location \0 ('' = the main data dir)
 *       'd' archive (or manifest) bytes — a tar stream
 *       'p' progress: int64 bytes of the current tablespace done so far
 *       'm' the manifest follows (only when MANIFEST was requested)
 *   CopyDone
 *   result set 3   end LSN, timeline
 *   CommandComplete, ReadyForQuery
 *
 * Incoming CopyData is handed to async consumers in order; when more than HIGH_WATER bytes wait
 * for the disk, the socket is paused (TCP backpressure reaches the server) and resumed below
 * LOW_WATER.
 */
import type pg from 'pg';

export interface BackupArchiveStart {
  readonly name: string;
  /** '' for the main data directory, else the tablespace's location on the source. */
  readonly tablespaceLocation: string;
}

export interface TablespaceRow {
  readonly oid: string | null;
  readonly location: string | null;
  /** Estimated bytes (server sends kB), null without PROGRESS. */
  readonly sizeBytes: number | null;
}

export interface BaseBackupHandlers {
  onStart?(startLsn: string, timeline: number): void;
  onTablespaces?(rows: TablespaceRow[]): void;
  onArchive(a: BackupArchiveStart): Promise<void>;
  onArchiveData(chunk: Buffer): Promise<void>;
  onManifestStart?(): Promise<void>;
  onManifestData?(chunk: Buffer): Promise<void>;
  onProgress?(doneBytesInTablespace: number): void;
  onEnd?(endLsn: string, timeline: number): void;
}

export interface BaseBackupResult {
  readonly startLsn: string;
  readonly endLsn: string;
  readonly timeline: number;
  readonly tablespaces: TablespaceRow[];
  /** CopyData payload bytes of archives (tar bytes). */
  readonly archiveBytes: number;
}

const HIGH_WATER = 16 * 1024 * 1024;
const LOW_WATER = 4 * 1024 * 1024;

interface ResultSet {
  fields: string[];
  rows: Array<Array<string | null>>;
}

/** Minimal shape of pg's Connection we touch. */
interface WireConnection {
  query(text: string): void;
  stream: { pause(): void; resume(): void; destroy(err?: Error): void };
  sendCopyFail(msg: string): void;
}

export class BaseBackupQuery implements pg.Submittable {
  readonly text: string;
  readonly promise: Promise<BaseBackupResult>;
  private resolve!: (r: BaseBackupResult) => void;
  private reject!: (e: Error) => void;
  private readonly h: BaseBackupHandlers;
  private connection: WireConnection | undefined;
  private current: ResultSet | undefined;
  private readonly sets: ResultSet[] = [];
  private copyStarted = false;
  private inManifest = false;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private paused = false;
  private failed: Error | undefined;
  private settled = false;
  private archiveBytes = 0;
  private tablespaces: TablespaceRow[] = [];
  private startLsn = '';
  private endLsn = '';
  private timeline = 0;

  constructor(text: string, handlers: BaseBackupHandlers) {
    this.text = text;
    this.h = handlers;
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A rejection nobody awaited yet must not crash the process; callers await `promise`.
    this.promise.catch(() => undefined);
  }

  submit(connection: pg.Connection): void {
    this.connection = connection as unknown as WireConnection;
    this.connection.query(this.text);
  }

  // --- ordinary result sets -------------------------------------------------------------------

  handleRowDescription(msg: { fields: Array<{ name: string }> }): void {
    this.current = { fields: msg.fields.map((f) => f.name), rows: [] };
  }

  handleDataRow(msg: { fields: Array<string | null> }): void {
    this.current?.rows.push(msg.fields);
  }

  handleCommandComplete(): void {
    try {
      this.onResultSet();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onResultSet(): void {
    const set = this.current;
    this.current = undefined;
    if (!set) return;
    this.sets.push(set);
    if (!this.copyStarted) {
      if (this.sets.length === 1) {
        const [lsn, tli] = set.rows[0] ?? [];
        this.startLsn = lsn ?? '';
        this.timeline = Number(tli ?? 0);
        this.h.onStart?.(this.startLsn, this.timeline);
      } else if (this.sets.length === 2) {
        this.tablespaces = set.rows.map((r) => ({
          oid: r[0] ?? null,
          location: r[1] ?? null,
          sizeBytes: r[2] === null || r[2] === undefined ? null : Number(r[2]) * 1024,
        }));
        this.h.onTablespaces?.(this.tablespaces);
      }
    } else {
      const [lsn, tli] = set.rows[0] ?? [];
      this.endLsn = lsn ?? '';
      this.timeline = Number(tli ?? this.timeline);
      this.enqueue(async () => this.h.onEnd?.(this.endLsn, this.timeline), 0);
    }
  }

  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: pg.Connection): void {
    (connection as unknown as WireConnection).sendCopyFail('BASE_BACKUP does not take input');
  }

  // --- the copy stream ----------------------------------------------------------------------

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.failed) return;
    this.copyStarted = true;
    const raw = msg.chunk;
    if (raw.length === 0) return;
    const kind = String.fromCharCode(raw[0]!);
    switch (kind) {
      case 'n': {
        const body = raw.subarray(1);
        const z1 = body.indexOf(0);
        const name = body.subarray(0, z1 < 0 ? body.length : z1).toString('utf8');
        const rest = z1 < 0 ? Buffer.alloc(0) : body.subarray(z1 + 1);
        const z2 = rest.indexOf(0);
        const tablespaceLocation = rest.subarray(0, z2 < 0 ? rest.length : z2).toString('utf8');
        this.inManifest = false;
        this.enqueue(() => this.h.onArchive({ name, tablespaceLocation }), 0);
        break;
      }
      case 'm':
        this.inManifest = true;
        this.enqueue(async () => this.h.onManifestStart?.(), 0);
        break;
      case 'd': {
        // pg's parser reuses its buffer: copy before the data outlives this call.
        const data = Buffer.from(raw.subarray(1));
        if (this.inManifest) {
          this.enqueue(async () => this.h.onManifestData?.(data), data.length);
        } else {
          this.archiveBytes += data.length;
          this.enqueue(() => this.h.onArchiveData(data), data.length);
        }
        break;
      }
      case 'p': {
        if (raw.length >= 9) {
          const done = Number(raw.readBigInt64BE(1));
          this.enqueue(async () => this.h.onProgress?.(done), 0);
        }
        break;
      }
      default:
        this.fail(new Error(`BASE_BACKUP: unknown CopyData message type ${JSON.stringify(kind)}`));
    }
  }

  private enqueue(fn: () => Promise<void> | void, bytes: number): void {
    this.queued += bytes;
    if (!this.paused && this.queued > HIGH_WATER && this.connection) {
      this.paused = true;
      this.connection.stream.pause();
    }
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        await fn();
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      } finally {
        this.queued -= bytes;
        if (this.paused && this.queued < LOW_WATER && this.connection) {
          this.paused = false;
          this.connection.stream.resume();
        }
      }
    });
  }

  /** A local failure (disk, format): stop reading and tear the connection down. */
  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    if (this.paused && this.connection) this.connection.stream.resume();
    this.connection?.stream.destroy(err);
    this.settle(err);
  }

  // --- the end --------------------------------------------------------------------------------

  handleError(err: Error): void {
    this.failed ??= err;
    // Let already queued work finish or fail before reporting.
    void this.chain.then(() => this.settle(this.failed ?? err));
  }

  handleReadyForQuery(): void {
    void this.chain.then(() => {
      if (this.failed) return this.settle(this.failed);
      if (!this.endLsn) return this.settle(new Error('BASE_BACKUP ended without an end position'));
      this.settle(undefined);
    });
  }

  private settle(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.reject(err);
    else {
      this.resolve({
        startLsn: this.startLsn,
        endLsn: this.endLsn,
        timeline: this.timeline,
        tablespaces: this.tablespaces,
        archiveBytes: this.archiveBytes,
      });
    }
  }
}

export interface BaseBackupCommandOptions {
  readonly label: string;
  readonly progress?: boolean;
  readonly fastCheckpoint?: boolean;
  /** Include the WAL needed to make the copy consistent (default true). */
  readonly wal?: boolean;
  readonly manifest?: boolean;
  /** kB/s, server-side throttle. */
  readonly maxRateKbps?: number;
}

/** `BASE_BACKUP ( … )` in the PostgreSQL 15+ option syntax. */
export function baseBackupCommand(o: BaseBackupCommandOptions): string {
  const opts = [
    `LABEL '${o.label.replace(/'/g, "''")}'`,
    `PROGRESS ${o.progress ?? true}`,
    `CHECKPOINT '${o.fastCheckpoint ?? true ? 'fast' : 'spread'}'`,
    `WAL ${o.wal ?? true}`,
    `WAIT true`,
    `MANIFEST '${o.manifest ? 'yes' : 'no'}'`,
  ];
  if (o.maxRateKbps) opts.push(`MAX_RATE ${Math.max(32, Math.floor(o.maxRateKbps))}`);
  return `BASE_BACKUP ( ${opts.join(', ')} )`;
}
