/**
 * The HTTP client of the drills and their benchmarks: one request with a deadline, against the
 * edge's URL (HTTPS trusted through the cluster CA). It never throws: a request that got no
 * answer comes back as status 0 with the error's code, so a load loop counts it and goes on.
 */
import http from 'node:http';
import https from 'node:https';

export interface Answer {
  /** 0: no answer (the body is the error's code or message). */
  readonly status: number;
  readonly body: string;
}

/** A keep-alive agent for `baseUrl` (https: trusting `ca`). */
export function clientAgent(baseUrl: string, o: { ca?: string; maxSockets?: number } = {}): http.Agent {
  const opts = { keepAlive: true, ...(o.maxSockets !== undefined && { maxSockets: o.maxSockets }) };
  return baseUrl.startsWith('https:') ? new https.Agent({ ...opts, ...(o.ca !== undefined && { ca: o.ca }) }) : new http.Agent(opts);
}

export function request(agent: http.Agent, url: string | URL, method: 'GET' | 'POST', body: string | undefined, timeoutMs: number): Promise<Answer> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const send = u.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = send(u, { method, agent, timeout: timeoutMs, headers }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      res.on('error', (e) => resolve({ status: 0, body: e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs}ms`), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: e.code ?? e.message }));
    req.end(body);
  });
}

/** Why a request failed, short enough to count by: `HTTP 503: database unavailable: …` or an error code. */
export function failureReason(a: Answer): string {
  if (a.status === 0) return a.body;
  let msg = '';
  try {
    msg = String((JSON.parse(a.body) as { error?: unknown }).error ?? '');
  } catch {
    msg = a.body.slice(0, 60);
  }
  return `HTTP ${a.status}${msg ? `: ${msg.replace(/\d+/g, 'N').slice(0, 120)}` : ''}`;
}
