/**
 * A paced writer through the edge: POST /api/notes one after another (each waits for its answer),
 * recording every acknowledged id and the write-unavailability gaps (from the last success
 * before a failure to the first success after it). Bounded in time.
 */
import http from 'node:http';

export interface WriterResult {
  acked: { id: number; text: string }[];
  failed: number;
  gapsMs: number[];
  failures: Record<string, number>;
}

export interface RunningWriter {
  readonly result: WriterResult;
  stop(): Promise<WriterResult>;
}

export function startWriter(baseUrl: string, opts: { paceMs?: number; maxMs?: number; concurrency?: number } = {}): RunningWriter {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 1 });
  const result: WriterResult = { acked: [], failed: 0, gapsMs: [], failures: {} };
  const deadline = Date.now() + (opts.maxMs ?? 120_000);
  let stopped = false;
  let lastOk = Date.now();
  let inGap = false;
  let seq = 0;
  const post = (text: string): Promise<{ status: number; body: string }> => new Promise((resolve) => {
    const body = JSON.stringify({ text });
    const req = http.request(`${baseUrl}/api/notes`, {
      method: 'POST', agent, timeout: 20_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      res.on('error', (e) => resolve({ status: 0, body: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: e.code ?? e.message }));
    req.end(body);
  });
  const worker = async (w: number): Promise<void> => {
    while (!stopped && Date.now() < deadline) {
      const text = `w${w}-${seq++}-${Date.now()}`;
      const r = await post(text);
      if (r.status === 201) {
        result.acked.push({ id: (JSON.parse(r.body) as { id: number }).id, text });
        if (inGap) {
          result.gapsMs.push(Date.now() - lastOk);
          inGap = false;
        }
        lastOk = Date.now();
      } else {
        result.failed++;
        let detail = '';
        try {
          detail = `: ${String((JSON.parse(r.body) as { error?: unknown }).error).replace(/\d+/g, 'N').slice(0, 80)}`;
        } catch {
          /* not JSON */
        }
        const why = r.status === 0 ? r.body : `HTTP ${r.status}${detail}`;
        result.failures[why] = (result.failures[why] ?? 0) + 1;
        inGap = true;
      }
      if (opts.paceMs) await new Promise((res) => setTimeout(res, opts.paceMs));
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency ?? 1 }, (_, i) => worker(i))).then(() => {
    agent.destroy();
    return result;
  });
  return {
    result,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** Every acknowledged note must be readable (through the read-write port) with its text. */
export async function lostWrites(baseUrl: string, acked: readonly { id: number; text: string }[]): Promise<number[]> {
  const lost: number[] = [];
  for (const a of acked) {
    let ok = false;
    for (let attempt = 0; attempt < 5 && !ok; attempt++) {
      const res = await fetch(`${baseUrl}/api/notes/${a.id}`).catch(() => undefined);
      if (res?.status === 200) {
        ok = ((await res.json()) as { text: string }).text === a.text;
        if (!ok) break;
      } else if (res?.status === 404) break;
      else await new Promise((r) => setTimeout(r, 200));
    }
    if (!ok) lost.push(a.id);
  }
  return lost;
}
