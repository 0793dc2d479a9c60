/**
 * The monitor's HTTPS server for the dashboard: the JSON API (api.ts), a server-sent event
 * stream, and the UI's static files. It serves the monitor node's certificate from the cluster
 * CA and authenticates nobody: who may reach it is the host firewall's business (docs/monitoring.md).
 *
 * The UI lives in src/observability/dashboard/ui/ (plain files; tsc does not copy them). Files
 * are looked up next to this module first (a build may copy or compile them there), then in the
 * source folder of the repository this module was compiled from, so no build step is needed.
 */
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulwarkError } from '../../core/errors.js';
import { INTERMEDIATE } from '../../data-plane/tls/index.js';
import { apiGet, type MonitorView } from './api.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.webmanifest': 'application/manifest+json', '.woff2': 'font/woff2', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

/** Where UI files are looked for, in order. */
export function uiDirs(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [path.join(here, 'ui'), path.resolve(here, '../../../../src/observability/dashboard/ui')];
}

export interface DashboardOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  readonly view: MonitorView;
  readonly uiDirs?: readonly string[];
  /** Concurrent /api/stream clients at most (each holds a connection). */
  readonly maxStreams?: number;
}

/**
 * The UI is static files from this server and one event stream: nothing inline, nothing from
 * elsewhere, so a strict policy costs nothing and makes an injected script inert.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export class DashboardServer {
  private server: https.Server | undefined;
  private readonly streams = new Set<http.ServerResponse>();
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly dirs: readonly string[];

  constructor(private readonly o: DashboardOptions) {
    this.dirs = o.uiDirs ?? uiDirs();
  }

  async start(): Promise<void> {
    const server = https.createServer({ ...INTERMEDIATE, cert: this.o.cert, key: this.o.key, requestTimeout: 10_000, headersTimeout: 5_000 },
      (req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new BulwarkError('BWK_LISTEN_FAILED', `dashboard cannot listen on ${this.o.host}:${this.o.port}: ${err.code ?? err.message}`, [], { cause: err })));
      server.listen({ host: this.o.host, port: this.o.port, exclusive: true }, () => resolve());
    });
    this.server = server;
    // A comment line now and then keeps proxies and browsers from timing the stream out.
    this.keepAlive = setInterval(() => {
      for (const s of this.streams) s.write(': keep-alive\n\n');
    }, 15_000);
    this.keepAlive.unref();
  }

  /** A renewed certificate: new connections get it, open ones (event streams) keep theirs. */
  setCertificate(cert: string, key: string): void {
    this.server?.setSecureContext({ ...INTERMEDIATE, cert, key });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://dashboard');
    const security = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'content-security-policy': CSP };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...security, allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `method ${req.method} not allowed; the dashboard is read-only` }));
      return;
    }
    try {
      if (url.pathname === '/api/stream') return this.stream(req, res, security);
      const answer = apiGet(this.o.view, url.pathname, url.searchParams);
      if (answer) {
        const text = JSON.stringify(answer.body);
        res.writeHead(answer.status, { ...security, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      if (url.pathname.startsWith('/api/')) {
        res.writeHead(404, { ...security, 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `no such endpoint: ${url.pathname} (see docs/monitoring.md)` }));
        return;
      }
      this.file(url.pathname, req, res, security);
    } catch (err) {
      res.writeHead(500, { ...security, 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'internal error', detail: (err as Error).message }));
    }
  }

  private stream(req: http.IncomingMessage, res: http.ServerResponse, security: Record<string, string>): void {
    if (this.streams.size >= (this.o.maxStreams ?? 64)) {
      res.writeHead(503, { ...security, 'content-type': 'application/json', 'retry-after': '5' });
      res.end(JSON.stringify({ error: 'too many open streams' }));
      return;
    }
    res.writeHead(200, { ...security, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (kind: string, data: unknown): void => {
      res.write(`event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 2000\n\n');
    send('overview', this.o.view.overview());
    const unsubscribe = this.o.view.subscribe(send);
    this.streams.add(res);
    req.socket.setTimeout(0);
    const done = (): void => {
      unsubscribe();
      this.streams.delete(res);
    };
    res.on('close', done);
  }

  private file(pathname: string, req: http.IncomingMessage, res: http.ServerResponse, security: Record<string, string>): void {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      rel = '\0';
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const ext = path.extname(rel).toLowerCase();
    const type = TYPES[ext];
    for (const dir of this.dirs) {
      const file = path.resolve(dir, '.' + rel);
      // Nothing outside the UI folder, whatever the path says.
      if (rel.includes('\0') || !file.startsWith(dir + path.sep) || !type) break;
      let body: Buffer;
      try {
        body = fs.readFileSync(file);
      } catch {
        continue;
      }
      res.writeHead(200, { ...security, 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (rel === '/index.html') {
      const text = '<!doctype html><meta charset="utf-8"><title>Bulwark monitor</title><p>The dashboard UI is not installed '
        + `(looked in ${this.dirs.join(' and ')}). The API answers at <a href="/api/overview">/api/overview</a>.</p>\n`;
      res.writeHead(200, { ...security, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    res.writeHead(404, { ...security, 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found: ${pathname}\n`);
  }

  async stop(): Promise<void> {
    clearInterval(this.keepAlive);
    for (const s of this.streams) s.end();
    this.streams.clear();
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
