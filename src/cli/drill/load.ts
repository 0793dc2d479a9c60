/**
 * The client side of `bulwark drill`: what a user's traffic sees while a node dies. Readers loop
 * on `GET /api/whoami`, one writer on `POST /api/notes` (when the cluster has a database), each
 * request bounded by a timeout, against the edge's URL (HTTPS trusted through the cluster CA).
 * Every answer is timestamped so the longest stretch without a successful read, and without an
 * acknowledged write (the gaps), can be measured; every acknowledged write is kept so it can be
 * read back afterwards (writes.ts).
 */
import { clientAgent, failureReason, request } from './http-request.js';
import { longestWriteGap, startWriters, type Ack } from './writes.js';

export interface DrillLoadOptions {
  readonly baseUrl: string;
  /** The cluster CA, for an https base URL. */
  readonly ca?: string;
  readonly readers: number;
  readonly writer: boolean;
  readonly timeoutMs: number;
}

export interface DrillLoadResult {
  readonly reads: { ok: number; failed: number };
  readonly writes: { ok: number; failed: number };
  /** Longest time between two successful reads, and between two acknowledged writes (ms). */
  readonly readGapMs: number;
  readonly writeGapMs: number;
  readonly acked: readonly Ack[];
  /** A few failure reasons, for the report. */
  readonly failures: readonly string[];
}

export interface DrillLoad {
  /** Time of the last successful answer of each kind (writes: 0 without a writer). */
  lastOkAt(): { read: number; write: number };
  stop(): Promise<DrillLoadResult>;
}

export function startDrillLoad(o: DrillLoadOptions): DrillLoad {
  const startedAt = Date.now();
  const agent = clientAgent(o.baseUrl, { ...(o.ca !== undefined && { ca: o.ca }) });
  const writes = o.writer
    ? startWriters(o.baseUrl, { writers: 1, paceMs: 0, maxMs: 3_600_000, tag: `drill-${startedAt}`, timeoutMs: o.timeoutMs, ...(o.ca !== undefined && { ca: o.ca }) })
    : undefined;
  const reads = { ok: 0, failed: 0 };
  const readFailures: string[] = [];
  const readGap = { last: startedAt, max: 0 };
  const readOk = (): void => {
    const now = Date.now();
    readGap.max = Math.max(readGap.max, now - readGap.last);
    readGap.last = now;
  };
  let running = true;
  const reader = async (): Promise<void> => {
    const url = new URL('/api/whoami', o.baseUrl);
    while (running) {
      const a = await request(agent, url, 'GET', undefined, o.timeoutMs);
      if (a.status === 200) {
        reads.ok++;
        readOk();
        continue;
      }
      reads.failed++;
      if (readFailures.length < 10) readFailures.push(`GET ${failureReason(a)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const readers = Array.from({ length: o.readers }, reader);
  let stopped: Promise<DrillLoadResult> | undefined;
  const stop = async (): Promise<DrillLoadResult> => {
    running = false;
    await Promise.all([...readers, writes?.stop()]);
    const end = Date.now();
    // A gap still open at the end counts up to now.
    readOk();
    agent.destroy();
    const acked = writes?.acks ?? [];
    const writeFailures = (writes?.failures ?? []).slice(0, 10).map((f) => `POST ${f.why}`);
    return {
      reads, writes: { ok: acked.length, failed: writes?.failures.length ?? 0 },
      readGapMs: readGap.max, writeGapMs: writes ? longestWriteGap(acked, startedAt, end) : 0,
      acked, failures: [...readFailures, ...writeFailures],
    };
  };
  return {
    lastOkAt: () => ({ read: readGap.last, write: writes ? (writes.acks.at(-1)?.ackAt ?? startedAt) : 0 }),
    // Once: the result stays what it was when the load stopped.
    stop: () => (stopped ??= stop()),
  };
}
