/**
 * A bounded load of clients that retry, like a browser or a resilient HTTP client facing a VIP
 * that moves: a GET that fails to connect, is refused or reset is retried every `retryMs` until
 * it succeeds or its own deadline passes (then it counts as failed); a connect that takes longer
 * than connectTimeoutMs is abandoned and retried. Every success is time-stamped,
 * so the takeover gap is the longest silence between two answers.
 */
import http from 'node:http';

export interface RetryingLoadResult {
  ok: number;
  /** Requests that never got an answer within their deadline, despite retries. */
  failed: number;
  /** Attempts that failed and were retried, by error code. */
  retried: Record<string, number>;
  /** The longest time without any answer, and when it started (ms since the epoch). */
  gapMs: number;
  gapStart: number;
  /** What clients saw during that gap: `+ms code` since its start (failed attempts, then the first answer). */
  gapEvents: string[];
}

export interface RetryingLoad {
  stop(): Promise<RetryingLoadResult>;
  /** Answers so far. */
  ok(): number;
}

export function startRetryingLoad(
  url: string, opts: { concurrency?: number; maxMs?: number; retryMs?: number; connectTimeoutMs?: number; requestDeadlineMs?: number } = {},
): RetryingLoad {
  const retryMs = opts.retryMs ?? 20;
  // A SYN sent to a host that just lost the VIP is dropped, and the kernel would resend it only
  // after its 1 s initial RTO: like resilient clients, give up on a connect early and try again.
  const connectTimeoutMs = opts.connectTimeoutMs ?? 100;
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 4 });
  const result: RetryingLoadResult = { ok: 0, failed: 0, retried: {}, gapMs: 0, gapStart: 0, gapEvents: [] };
  const errors: { at: number; code: string }[] = [];
  let lastOk = Date.now();
  let stopped = false;
  const attempt = (): Promise<string | undefined> => new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })), connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
  });
  const one = async (): Promise<void> => {
    const giveUp = Date.now() + (opts.requestDeadlineMs ?? 5000);
    for (;;) {
      const err = await attempt();
      if (err === undefined) {
        const now = Date.now();
        if (now - lastOk > result.gapMs) {
          result.gapMs = now - lastOk;
          result.gapStart = lastOk;
        }
        lastOk = now;
        result.ok++;
        return;
      }
      result.retried[err] = (result.retried[err] ?? 0) + 1;
      if (errors.length < 100_000) errors.push({ at: Date.now(), code: err });
      if (Date.now() >= giveUp) {
        result.failed++;
        return;
      }
      await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  const workers = Array.from({ length: opts.concurrency ?? 4 }, async () => {
    while (!stopped && Date.now() < deadline) await one();
  });
  const done = Promise.all(workers).then(() => {
    agent.destroy();
    const end = result.gapStart + result.gapMs;
    result.gapEvents = [
      ...errors.filter((e) => e.at >= result.gapStart && e.at <= end).map((e) => `+${e.at - result.gapStart}ms ${e.code}`).slice(0, 40),
      `+${result.gapMs}ms answer`,
    ];
    return result;
  });
  return {
    ok: () => result.ok,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
