/**
 * Backend servers for edge tests, on 127.0.0.1 random ports: an HTTP server that records what
 * reached it and answers a few magic paths, and raw TCP servers that can misbehave.
 */
import http from 'node:http';
import net from 'node:net';
import { listenOnFreePort } from './ports.js';

export interface SeenRequest {
  method: string;
  url: string;
  /** Lower-case names, as node parsed them. */
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void | boolean;

/**
 * Paths every HttpBackend answers (unless `handler` answers first by returning true):
 *  /healthz        → `health` (200 by default)
 *  /slow?ms=N      → 200 after N ms
 *  /never          → no answer at all
 *  /big?bytes=N    → N bytes of a known pattern, streamed
 *  /status/NNN     → that status, no body
 *  /echo           → the request body back
 *  anything else   → 200 with the server name as body
 * Every response carries `x-server: <name>`.
 */
export class HttpBackend {
  readonly server: http.Server;
  port = 0;
  readonly seen: SeenRequest[] = [];
  health = 200;
  /** Requests being handled right now (and the most at once), health checks excluded. */
  inFlight = 0;
  maxInFlight = 0;
  /** Request targets in the order their heads arrived (before the body is read). */
  readonly heads: string[] = [];
  /** TCP connections accepted. */
  connections = 0;
  private readonly sockets = new Set<net.Socket>();
  handler: Handler | undefined;

  constructor(readonly name: string, handler?: Handler) {
    this.handler = handler;
    this.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: net.Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(name: string, handler?: Handler): Promise<HttpBackend> {
    const b = new HttpBackend(name, handler);
    b.port = await listenOnFreePort(b.server);
    return b;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections open right now (the edge's pooled ones included). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Requests for `path` (health checks excluded unless asked for). */
  hits(path?: string): SeenRequest[] {
    return this.seen.filter((r) => (path === undefined ? r.url !== '/healthz' : r.url === path));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.heads.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (req.url !== '/healthz') {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        res.once('close', () => this.inFlight--);
      }
      res.setHeader('x-server', this.name);
      res.setHeader('x-url', req.url ?? '');
      if (this.handler?.(req, res, body) === true) return;
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      if (path === '/healthz') {
        res.statusCode = this.health;
        res.end(this.health === 200 ? 'ok' : 'sick');
      } else if (path === '/slow') {
        const timer = setTimeout(() => res.end(this.name), Number(url.searchParams.get('ms') ?? 200));
        res.once('close', () => clearTimeout(timer));
      } else if (path === '/never') {
        // no answer
      } else if (path === '/big') {
        const total = Number(url.searchParams.get('bytes') ?? 1024);
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('content-length', String(total));
        let sent = 0;
        const write = (): void => {
          while (sent < total) {
            const n = Math.min(64 * 1024, total - sent);
            const ok = res.write(pattern(sent, n));
            sent += n;
            if (!ok) {
              res.once('drain', write);
              return;
            }
          }
          res.end();
        };
        write();
      } else if (path.startsWith('/status/')) {
        res.statusCode = Number(path.slice(8));
        res.end();
      } else if (path === '/echo') {
        res.setHeader('content-type', req.headers['content-type'] ?? 'application/octet-stream');
        res.end(body);
      } else {
        res.setHeader('content-type', 'text/plain');
        res.end(this.name);
      }
    });
  }

  /** Stop listening and cut every connection (pooled ones from the edge included). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port after close(). */
  async reopen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port: this.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }
}

/** `n` bytes of a position-dependent pattern starting at `offset`. */
export function pattern(offset: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (offset + i) % 251;
  return b;
}

/** A raw TCP server with a per-connection behaviour; counts connections and keeps what it read. */
export class RawBackend {
  readonly server: net.Server;
  port = 0;
  connections = 0;
  active = 0;
  /** Connections that carried data (health probes only connect). */
  talked = 0;
  received: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(onConnection: (socket: net.Socket, self: RawBackend) => void) {
    this.server = net.createServer((s) => {
      this.connections++;
      this.active++;
      this.sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => {
        this.active--;
        this.sockets.delete(s);
      });
      onConnection(s, this);
    });
  }

  static async start(onConnection: (socket: net.Socket, self: RawBackend) => void): Promise<RawBackend> {
    const b = new RawBackend(onConnection);
    b.port = await listenOnFreePort(b.server);
    return b;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Everything received so far, over all connections, as latin1. */
  text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port after close(). */
  async reopen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port: this.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }
}

/** Echo server: every byte goes back. `talked` counts connections that sent at least one byte. */
export function echoServer(): Promise<RawBackend> {
  return RawBackend.start((s, self) => {
    let first = true;
    s.on('data', (c: Buffer) => {
      if (first) {
        first = false;
        self.talked++;
      }
      self.received.push(c);
      s.write(c);
    });
    s.on('end', () => s.end());
  });
}

/**
 * A server that is "up" for a tcp health check (it accepts and hangs up) and is then closed with
 * close(): its port refuses connections while the edge still believes it alive.
 */
export function placeholderServer(): Promise<RawBackend> {
  return RawBackend.start((s) => s.destroy());
}

/** Accepts a connection, keeps the first bytes it reads and resets it. */
export function resettingServer(): Promise<RawBackend> {
  return RawBackend.start((s, self) => {
    s.once('data', (c: Buffer) => {
      self.received.push(c);
      s.resetAndDestroy();
    });
  });
}
