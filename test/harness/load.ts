/**
 * A bounded client load: `concurrency` keep-alive clients issuing GETs until `stop()` or the time
 * limit, counting every answer by status and by serving node. No client-side retries: a failure
 * here is a failure the edge let through.
 */
import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  byNode: Record<string, number>;
  /** Wall-clock time of each failure, for correlating with events. */
  failureTimes: number[];
}

export interface RunningLoad {
  stop(): Promise<LoadResult>;
  /** Resolves when the load ends by itself (time or request limit). */
  readonly finished: Promise<LoadResult>;
  readonly result: LoadResult;
}

export function startLoad(url: string, opts: { concurrency?: number; maxMs?: number; maxRequests?: number; path?: string } = {}): RunningLoad {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 8 });
  const result: LoadResult = { ok: 0, failed: 0, failures: {}, byNode: {}, failureTimes: [] };
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  const maxRequests = opts.maxRequests ?? 1_000_000;
  let stopped = false;
  const fail = (why: string): void => {
    result.failed++;
    result.failures[why] = (result.failures[why] ?? 0) + 1;
    result.failureTimes.push(Date.now());
  };
  const one = (): Promise<void> => new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200) {
          result.ok++;
          try {
            const node = (JSON.parse(body) as { node?: string }).node ?? '?';
            result.byNode[node] = (result.byNode[node] ?? 0) + 1;
          } catch {
            /* not JSON: counted as ok */
          }
        } else fail(`HTTP ${res.statusCode}`);
        resolve();
      });
      res.on('error', (e) => {
        fail(e.message);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      fail(e.code ?? e.message);
      resolve();
    });
  });
  const workers = Array.from({ length: opts.concurrency ?? 8 }, async () => {
    while (!stopped && Date.now() < deadline && result.ok + result.failed < maxRequests) await one();
  });
  const done = Promise.all(workers).then(() => {
    agent.destroy();
    return result;
  });
  return {
    result,
    finished: done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
