/**
 * The node's agent API: a small JSON-over-HTTP server on the node's address. Every node serves
 * GET /health, /metrics and /status; roles add their own routes (lb: POST /drain). Bad requests
 * get a JSON error naming the problem; a handler that throws becomes a 500 and a log line.
 */
import http from 'node:http';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import { listenHttp } from './listen-http.js';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Parsed JSON body (POST/PUT), or undefined. */
  readonly body: unknown;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Plain text instead of JSON (Prometheus exposition). */
  contentType?: string;
}

export type ApiHandler = (req: ApiRequest) => ApiResponse | Promise<ApiResponse>;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;

export class AgentApi {
  private readonly routes = new Map<string, ApiHandler>();
  private server: http.Server | undefined;

  constructor(private readonly log: Logger) {}

  route(method: 'GET' | 'POST', path: string, handler: ApiHandler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  async listen(host: string, port: number): Promise<void> {
    this.server = await listenHttp(host, port, (req, res) => void this.handle(req, res));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const method = req.method ?? 'GET';
    try {
      const handler = this.routes.get(`${method} ${url.pathname}`);
      if (!handler) {
        const allowed = [...this.routes.keys()].filter((k) => k.endsWith(` ${url.pathname}`)).map((k) => k.split(' ')[0]);
        if (allowed.length > 0) throw new ApiError(405, `method ${method} not allowed on ${url.pathname} (allowed: ${allowed.join(', ')})`);
        throw new ApiError(404, `no such endpoint: ${url.pathname}`);
      }
      const body = method === 'POST' ? await readJson(req) : undefined;
      const out = await handler({ method, path: url.pathname, query: url.searchParams, body });
      send(res, out);
    } catch (err) {
      if (err instanceof ApiError) {
        send(res, { status: err.status, body: { error: err.message } });
      } else if (err instanceof BulwarkError) {
        send(res, { status: 409, body: { error: err.message, code: err.code } });
      } else {
        this.log.error({ err, path: url.pathname }, 'agent API handler failed');
        send(res, { status: 500, body: { error: 'internal error', detail: (err as Error).message } });
      }
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function send(res: http.ServerResponse, out: ApiResponse): void {
  const text = out.contentType ? String(out.body) : JSON.stringify(out.body, null, 2) + '\n';
  res.writeHead(out.status, {
    'content-type': out.contentType ?? 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new ApiError(415, 'request body must be application/json');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
