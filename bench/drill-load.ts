/**
 * Write load for the failover drill: N writers POST /api/notes through the load balancer, each
 * waiting for its answer (paced: at most one commit per `paceMs`; unpaced: back to back). Every
 * acknowledged write is kept with when it was sent, when the 201 arrived and which database
 * member committed it (the demo app answers `db`), so a write gap can be measured per phase as
 * the client saw it. Also: a parallel read-back of acknowledged ids (every one must come back
 * with its text).
 */
import http from 'node:http';

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

export interface Load {
  readonly acks: Ack[];
  readonly failures: Failure[];
  stop(): Promise<void>;
}

interface Answer {
  status: number;
  body: string;
}

function request(agent: http.Agent, url: string, method: 'GET' | 'POST', body: string | undefined, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request(url, { method, agent, timeout: timeoutMs, headers }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      res.on('error', (e) => resolve({ status: 0, body: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: e.code ?? e.message }));
    req.end(body);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Why a write failed, short enough to count by: `HTTP 503: database unavailable: …` or a socket error. */
function reason(a: Answer): string {
  if (a.status === 0) return a.body;
  let msg = '';
  try {
    msg = String((JSON.parse(a.body) as { error?: unknown }).error ?? '');
  } catch {
    msg = a.body.slice(0, 60);
  }
  return `HTTP ${a.status}${msg ? `: ${msg.replace(/\d+/g, 'N').slice(0, 120)}` : ''}`;
}

export function startLoad(baseUrl: string, opts: { writers: number; paceMs: number; maxMs: number; timeoutMs?: number; tag: string }): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.writers });
  const acks: Ack[] = [];
  const failures: Failure[] = [];
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (!stopped && Date.now() < deadline) {
      const sentAt = Date.now();
      const text = `${opts.tag}-w${w}-${seq++}-${sentAt}`;
      const a = await request(agent, `${baseUrl}/api/notes`, 'POST', JSON.stringify({ text }), opts.timeoutMs ?? 10_000);
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
      if (!ok) failures.push({ at: ackAt, why: reason(a) });
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

export interface Verification {
  /** Read back with another text, or 404: acknowledged but gone. */
  readonly lost: Ack[];
  /** Could not be read at all (still erroring after retries): neither lost nor confirmed. */
  readonly unverified: Ack[];
  readonly ms: number;
}

/**
 * Read every acknowledged id back through the load balancer (GET /api/notes/:id goes to the
 * primary) with `concurrency` requests at a time; an id answering 5xx is retried for up to
 * `retryMs` (and the whole check for up to `totalMs`). Lost = 404 or a different text.
 */
export async function verifyAcks(baseUrl: string, acks: readonly Ack[], opts: { concurrency?: number; retryMs?: number; totalMs?: number } = {}): Promise<Verification> {
  const started = Date.now();
  // Bounded as a whole: with the database gone, the rest is counted unverifiable at once.
  const hardStop = started + (opts.totalMs ?? 90_000);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 16 });
  const lost: Ack[] = [];
  const unverified: Ack[] = [];
  let next = 0;
  const check = async (a: Ack): Promise<void> => {
    if (Date.now() > hardStop) {
      unverified.push(a);
      return;
    }
    const until = Math.min(hardStop, Date.now() + (opts.retryMs ?? 10_000));
    for (;;) {
      const r = await request(agent, `${baseUrl}/api/notes/${a.id}`, 'GET', undefined, 5_000);
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
      if (r.status === 404) {
        lost.push(a);
        return;
      }
      if (Date.now() > until) {
        unverified.push(a);
        return;
      }
      await sleep(200);
    }
  };
  const worker = async (): Promise<void> => {
    while (next < acks.length) await check(acks[next++]!);
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, () => worker()));
  agent.destroy();
  return { lost, unverified, ms: Date.now() - started };
}
