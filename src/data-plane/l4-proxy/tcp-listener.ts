/**
 * A plain TCP (L4) frontend: each client connection is paired with one server connection and
 * bytes are piped both ways. The client is paused until the server connection is up, so a
 * failed connect can be retried on another server without losing a byte.
 */
import net from 'node:net';
import type { FrontendSpec } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import { SampledLogger } from '../../core/sampled-log.js';
import type { EdgeMetrics } from '../../observability/edge-metrics.js';
import { FULL, type BackendRuntime } from '../edge/backend.js';
import type { UpstreamServer } from '../edge/upstream.js';
import type { PickContext } from '../balancer/index.js';
import { listenAll, type BoundAddress } from '../listener/listen.js';

export interface TcpFrontendRuntime {
  readonly name: string;
  readonly spec: FrontendSpec;
  readonly backend: BackendRuntime;
}

class TcpContext implements PickContext {
  constructor(readonly clientIp: string) {}
  header(): undefined {
    return undefined;
  }
  cookie(): undefined {
    return undefined;
  }
}

export class TcpListener {
  private runtime: TcpFrontendRuntime;
  private servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly sampled: SampledLogger;

  constructor(
    runtime: TcpFrontendRuntime,
    private readonly metrics: EdgeMetrics,
    log: Logger,
    private readonly ejected: (server: UpstreamServer, reason: string) => void,
  ) {
    this.runtime = runtime;
    this.sampled = new SampledLogger(log);
  }

  current(): TcpFrontendRuntime {
    return this.runtime;
  }

  swap(runtime: TcpFrontendRuntime): void {
    this.runtime = runtime;
  }

  activeConnections(): number {
    return this.sockets.size;
  }

  async listen(addresses: readonly BoundAddress[]): Promise<void> {
    // Half-open: a client's FIN is passed on to the server (pipe ends it) and the server's answer
    // still flows back; without it node would end the client side at once and drop that answer.
    this.servers = await listenAll(addresses, (client) => this.onConnection(client), { allowHalfOpen: true });
  }

  private onConnection(client: net.Socket): void {
    const fe = this.runtime;
    this.sockets.add(client);
    client.pause();
    client.setNoDelay(true);
    client.on('error', () => {});
    client.once('close', () => this.sockets.delete(client));
    const ctx = new TcpContext((client.remoteAddress ?? '').replace(/^::ffff:/, ''));
    const started = performance.now();
    this.connectTo(fe, client, ctx, undefined, 0, started);
  }

  private connectTo(fe: TcpFrontendRuntime, client: net.Socket, ctx: TcpContext, avoid: UpstreamServer | undefined, attempt: number, started: number): void {
    const backend = fe.backend;
    if (client.destroyed) return;
    const server = backend.select(ctx, avoid);
    if (server === undefined || server === FULL) {
      const reason = server === FULL ? 'every server at maxconn' : 'no server available';
      this.metrics.refusal(fe.name, server === FULL ? 'queue-full' : 'no-server');
      this.sampled.warn('tcp-no-server', { frontend: fe.name, backend: backend.spec.name, client: ctx.clientIp }, `tcp connection refused: ${reason}`);
      client.destroy();
      return;
    }
    server.active++;
    server.total++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      server.active--;
      backend.kickQueue();
    };
    const upstream = net.connect({ host: server.host, port: server.port });
    upstream.setNoDelay(true);
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), backend.spec.timeouts.connectMs);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      server.passive.success();
      const idle = fe.spec.timeouts.idleMs;
      client.setTimeout(idle, () => client.destroy());
      upstream.setTimeout(idle, () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      server.sessions.add(client);
      client.once('close', () => {
        server.sessions.delete(client);
        upstream.destroy();
      });
    });
    upstream.on('error', (err) => {
      clearTimeout(connectTimer);
      if (!connected) {
        release();
        if (server.passive.failure(err.message)) {
          this.metrics.ejection(backend.spec.name, server.name);
          this.ejected(server, err.message);
        }
        if (attempt < backend.spec.retries.attempts && backend.budget.tryRetry(Date.now())) {
          backend.retries++;
          this.metrics.retry(backend.spec.name);
          this.connectTo(fe, client, ctx, server, attempt + 1, started);
        } else {
          this.metrics.request(fe.name, backend.spec.name, server.name, 503, (performance.now() - started) / 1000);
          client.destroy();
        }
      }
    });
    upstream.once('close', () => {
      if (connected) {
        release();
        this.metrics.request(fe.name, backend.spec.name, server.name, 200, (performance.now() - started) / 1000);
        client.end();
      }
    });
    client.once('close', () => {
      if (connected) upstream.end();
      else upstream.destroy();
    });
    backend.budget.recordRequest(Date.now());
  }

  async close(graceMs: number): Promise<void> {
    // Stop accepting now; the close callback waits for every connection, so await it last.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
