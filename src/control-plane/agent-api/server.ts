/**
 * The node's agent API: a small JSON-over-HTTPS server on the node's address. Every node serves
 * GET /health, /metrics and /status; roles add their own routes (lb: POST /drain). Bad requests
 * get a JSON error naming the problem; a handler that throws becomes a 500 and a log line.
 *
 * Mutual TLS: a client without a certificate from the cluster CA does not get past the
 * handshake. Each route then says which callers it serves, by the role in their certificate;
 * the admin certificate (the CLI) may call every route. The default is admin only, so a new
 * route is closed until someone decides who needs it.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import { SampledLogger } from '../../core/sampled-log.js';
import { ROLES } from '../../config/types.js';
import { callerRoleOf, type CallerRole, type TlsCredentials } from '../certs/credentials.js';
import { agentTlsContext, listenHttps } from './listen-http.js';

/** Roles that may call a route besides admin. */
export type Access = readonly Exclude<CallerRole, 'admin'>[];
/** Every member of the cluster (peer calls such as /health and /status). */
export const MEMBERS: Access = ROLES;

export interface ApiRequest {
  /** The verified caller: its certificate's common name and role. */
  readonly caller: { readonly name: string; readonly role: CallerRole };
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
  private readonly routes = new Map<string, { handler: ApiHandler; access: Access }>();
  private server: https.Server | undefined;

  /** A few lines per reason and second at most: a scanner must not flood the log. */
  private readonly refusals: SampledLogger;

  constructor(private readonly log: Logger) {
    this.refusals = new SampledLogger(log, 2);
  }

  route(method: 'GET' | 'POST', path: string, handler: ApiHandler, access: Access = []): void {
    this.routes.set(`${method} ${path}`, { handler, access });
  }

  async listen(host: string, port: number, credentials: TlsCredentials): Promise<void> {
    this.server = await listenHttps(host, port, credentials, (req, res) => void this.handle(req, res), (reason, from) =>
      this.refusals.warn(reason, { reason, from }, `agent API refused a connection from ${from}: ${reason}`));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const method = req.method ?? 'GET';
    try {
      const route = this.routes.get(`${method} ${url.pathname}`);
      if (!route) {
        const allowed = [...this.routes.keys()].filter((k) => k.endsWith(` ${url.pathname}`)).map((k) => k.split(' ')[0]);
        if (allowed.length > 0) throw new ApiError(405, `method ${method} not allowed on ${url.pathname} (allowed: ${allowed.join(', ')})`);
        throw new ApiError(404, `no such endpoint: ${url.pathname}`);
      }
      const caller = callerOf(req);
      if (caller.role !== 'admin' && !route.access.includes(caller.role)) {
        const who = route.access.length > 0 ? `admin or ${route.access.join('/')} certificates` : 'the admin certificate';
        throw new ApiError(403, `${method} ${url.pathname} is for ${who}; the caller presented ${caller.name} (${caller.role})`);
      }
      const body = method === 'POST' ? await readJson(req) : undefined;
      const out = await route.handler({ caller, method, path: url.pathname, query: url.searchParams, body });
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

  /** A renewed certificate: new handshakes use it; open connections keep theirs. */
  setCredentials(credentials: TlsCredentials): void {
    this.server?.setSecureContext(agentTlsContext(credentials));
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** The handshake already proved the chain; what is left is whose certificate it is. */
function callerOf(req: http.IncomingMessage): { name: string; role: CallerRole } {
  const peer = (req.socket as TLSSocket).getPeerCertificate();
  const role = callerRoleOf(peer.subject);
  const cn = peer.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!role || !name) throw new ApiError(403, 'the client certificate names no bulwark role (OU): issue it with `bulwark certs issue`');
  return { name, role };
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
