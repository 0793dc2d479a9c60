/** node:http requests for edge tests: one call, whole body, status and headers. */
import http from 'node:http';
import { HOST } from './ports.js';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Defaults to no agent (a fresh connection per request). */
  agent?: http.Agent | false;
  timeoutMs?: number;
  /** Source address of the connection (a loopback address stands for a client host). */
  localAddress?: string;
  /** Where to connect (default 127.0.0.1; `::1` for IPv6). */
  host?: string;
}

export function request(port: number, target: string, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? HOST, port, path: target, method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false,
        ...(opts.localAddress && { localAddress: opts.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString() });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${target}`)));
    req.end(opts.body);
  });
}

/** GET that must succeed with 200; returns the body text (the serving backend's name by default). */
export async function get200(port: number, target = '/', opts: RequestOptions = {}): Promise<string> {
  const r = await request(port, target, opts);
  if (r.status !== 200) throw new Error(`GET ${target} → ${r.status} ${r.text}`);
  return r.text;
}

/** Tally of values. */
export function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
