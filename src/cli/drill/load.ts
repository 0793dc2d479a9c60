/**
 * The client side of a drill: what a user's traffic sees while a node dies. Readers loop on
 * `GET /api/whoami`, one writer on `POST /api/notes` (when the cluster has a database), each
 * request bounded by a timeout, against the edge's URL (HTTPS trusted through the cluster CA).
 * Every answer is timestamped so the longest stretch without a successful read, and without an
 * acknowledged write (the gaps), can be measured; every acknowledged write is kept so it can be
 * checked afterwards.
 */
import http from 'node:http';
import https from 'node:https';

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
  /** Ids of acknowledged writes. */
  readonly acked: readonly number[];
  /** A few failure reasons, for the report. */
  readonly failures: readonly string[];
}

export interface DrillLoad {
  /** Time of the last successful answer of each kind (writes: 0 without a writer). */
  lastOkAt(): { read: number; write: number };
  stop(): Promise<DrillLoadResult>;
}

interface Answer { status: number; body: string }

export function request(agent: http.Agent, url: URL, method: 'GET' | 'POST', body: string | undefined, timeoutMs: number): Promise<Answer> {
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, agent, timeout: timeoutMs, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function startDrillLoad(o: DrillLoadOptions): DrillLoad {
  const https_ = o.baseUrl.startsWith('https:');
  const agent = https_ ? new https.Agent({ keepAlive: true, ca: o.ca }) : new http.Agent({ keepAlive: true });
  const reads = { ok: 0, failed: 0 };
  const writes = { ok: 0, failed: 0 };
  const acked: number[] = [];
  const failures: string[] = [];
  let running = true;
  const gap = (): { last: number; max: number; ok(): void } => ({
    last: Date.now(), max: 0,
    ok() {
      const now = Date.now();
      this.max = Math.max(this.max, now - this.last);
      this.last = now;
    },
  });
  const readGap = gap();
  const writeGap = gap();
  const fail = (why: string): void => {
    if (failures.length < 20) failures.push(why);
  };
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
  const reader = async (): Promise<void> => {
    const url = new URL('/api/whoami', o.baseUrl);
    while (running) {
      try {
        const a = await request(agent, url, 'GET', undefined, o.timeoutMs);
        if (a.status === 200) {
          reads.ok++;
          readGap.ok();
        } else {
          reads.failed++;
          fail(`GET HTTP ${a.status}`);
        }
      } catch (err) {
        reads.failed++;
        fail(`GET ${(err as Error).message}`);
        await pause();
      }
    }
  };
  const writer = async (): Promise<void> => {
    const url = new URL('/api/notes', o.baseUrl);
    let n = 0;
    while (running) {
      try {
        const a = await request(agent, url, 'POST', JSON.stringify({ text: `drill ${++n}` }), o.timeoutMs);
        if (a.status === 201) {
          writes.ok++;
          acked.push((JSON.parse(a.body) as { id: number }).id);
          writeGap.ok();
        } else {
          writes.failed++;
          fail(`POST HTTP ${a.status}`);
          await pause();
        }
      } catch (err) {
        writes.failed++;
        fail(`POST ${(err as Error).message}`);
        await pause();
      }
    }
  };
  const workers = [...Array.from({ length: o.readers }, reader), ...(o.writer ? [writer()] : [])];
  return {
    lastOkAt: () => ({ read: readGap.last, write: o.writer ? writeGap.last : 0 }),
    async stop() {
      running = false;
      await Promise.all(workers);
      // A gap still open at the end counts up to now.
      readGap.ok();
      if (o.writer) writeGap.ok();
      agent.destroy();
      return { reads, writes, readGapMs: readGap.max, writeGapMs: writeGap.max, acked, failures };
    },
  };
}

/** Acknowledged writes that cannot be read back now (read through the primary). */
export async function lostWrites(o: Pick<DrillLoadOptions, 'baseUrl' | 'ca'>, acked: readonly number[]): Promise<number[]> {
  const agent = o.baseUrl.startsWith('https:') ? new https.Agent({ keepAlive: true, ca: o.ca }) : new http.Agent({ keepAlive: true });
  const lost: number[] = [];
  try {
    for (const id of acked) {
      let status = 0;
      for (let attempt = 0; attempt < 5 && status !== 200 && status !== 404; attempt++) {
        status = await request(agent, new URL(`/api/notes/${id}`, o.baseUrl), 'GET', undefined, 5000).then((a) => a.status, () => 0);
        if (status !== 200 && status !== 404) await new Promise((r) => setTimeout(r, 200));
      }
      if (status !== 200) lost.push(id);
    }
  } finally {
    agent.destroy();
  }
  return lost;
}
