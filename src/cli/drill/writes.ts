/**
 * Writes through the edge, and the proof that none was lost: N writers POST /api/notes, each
 * waiting for its answer (paced: at most one per `paceMs`; unpaced: back to back). Every
 * acknowledged write is kept with when it was sent, when the 201 arrived and which database
 * member committed it (the demo app answers `db`), so write gaps can be measured as the client
 * saw them; afterwards every one is read back by id (through the primary) and must come back
 * with its text. Used by `bulwark drill`, the drill benchmarks and the tests.
 */
import { clientAgent, failureReason, request } from './http-request.js';

export interface Ack {
  readonly id: number;
  readonly text: string;
  readonly sentAt: number;
  readonly ackAt: number;
  /** The member that committed it (cluster_name of the PostgreSQL that answered). */
  readonly db: string;
}

export interface Failure {
  readonly at: number;
  readonly why: string;
}

export interface Writers {
  readonly acks: Ack[];
  readonly failures: Failure[];
  stop(): Promise<void>;
}

export interface WritersOptions {
  readonly writers: number;
  /** 0: back to back. */
  readonly paceMs: number;
  readonly maxMs: number;
  /** Makes every text unique to this run. */
  readonly tag: string;
  readonly timeoutMs?: number;
  /** The cluster CA, for an https base URL. */
  readonly ca?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function startWriters(baseUrl: string, opts: WritersOptions): Writers {
  const agent = clientAgent(baseUrl, { maxSockets: opts.writers, ...(opts.ca !== undefined && { ca: opts.ca }) });
  const url = new URL('/api/notes', baseUrl);
  const acks: Ack[] = [];
  const failures: Failure[] = [];
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (!stopped && Date.now() < deadline) {
      const sentAt = Date.now();
      const text = `${opts.tag}-w${w}-${seq++}-${sentAt}`;
      const a = await request(agent, url, 'POST', JSON.stringify({ text }), opts.timeoutMs ?? 10_000);
      const ackAt = Date.now();
      let ok = false;
      if (a.status === 201) {
        try {
          const b = JSON.parse(a.body) as { id: number; db: string };
          acks.push({ id: b.id, text, sentAt, ackAt, db: b.db });
          ok = true;
        } catch {
          // a 201 we cannot read is a failure to us
        }
      }
      if (!ok) failures.push({ at: ackAt, why: failureReason(a) });
      if (opts.paceMs > 0) await sleep(Math.max(0, sentAt + opts.paceMs - Date.now()));
      else if (!ok) await sleep(5); // do not spin on instant errors (connection refused)
    }
  };
  const done = Promise.all(Array.from({ length: opts.writers }, (_, i) => worker(i))).then(() => agent.destroy());
  return {
    acks,
    failures,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** The longest time between two acknowledged writes, counting from `from` and up to `to` when given. */
export function longestWriteGap(acks: readonly Ack[], from?: number, to?: number): number {
  const t = [...(from === undefined ? [] : [from]), ...acks.map((a) => a.ackAt).sort((a, b) => a - b), ...(to === undefined ? [] : [to])];
  let gap = 0;
  for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i]! - t[i - 1]!);
  return gap;
}

/** Failures counted by reason. */
export function countReasons(failures: readonly Failure[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of failures) out[f.why] = (out[f.why] ?? 0) + 1;
  return out;
}

export interface Verification<A> {
  /** Read back with another text, or 404: acknowledged but gone. */
  readonly lost: A[];
  /** Could not be read at all (still erroring after retries): neither lost nor confirmed. */
  readonly unverified: A[];
  readonly ms: number;
}

/**
 * Read every acknowledged id back through the edge (GET /api/notes/:id goes to the primary) with
 * `concurrency` requests at a time; an id answering anything but 200 or 404 is retried for up to
 * `retryMs` (and the whole check for up to `totalMs`). Lost = 404 or a different text.
 */
export async function verifyAcks<A extends Pick<Ack, 'id' | 'text'>>(
  baseUrl: string, acks: readonly A[], opts: { concurrency?: number; retryMs?: number; totalMs?: number; ca?: string } = {},
): Promise<Verification<A>> {
  const started = Date.now();
  // Bounded as a whole: with the database gone, the rest is counted unverifiable at once.
  const hardStop = started + (opts.totalMs ?? 90_000);
  const concurrency = opts.concurrency ?? 16;
  const agent = clientAgent(baseUrl, { maxSockets: concurrency, ...(opts.ca !== undefined && { ca: opts.ca }) });
  const lost: A[] = [];
  const unverified: A[] = [];
  let next = 0;
  const check = async (a: A): Promise<void> => {
    if (Date.now() > hardStop) return void unverified.push(a);
    const until = Math.min(hardStop, Date.now() + (opts.retryMs ?? 10_000));
    for (;;) {
      const r = await request(agent, new URL(`/api/notes/${a.id}`, baseUrl), 'GET', undefined, 5_000);
      if (r.status === 200) {
        let text: unknown;
        try {
          text = (JSON.parse(r.body) as { text?: unknown }).text;
        } catch {
          text = undefined;
        }
        if (text !== a.text) lost.push(a);
        return;
      }
      if (r.status === 404) return void lost.push(a);
      if (Date.now() > until) return void unverified.push(a);
      await sleep(200);
    }
  };
  const worker = async (): Promise<void> => {
    while (next < acks.length) await check(acks[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  agent.destroy();
  return { lost, unverified, ms: Date.now() - started };
}
