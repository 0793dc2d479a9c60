/**
 * An HTTP frontend's listening socket(s). The frontend runtime behind it can be swapped without
 * closing the socket (hot reload); connections are tracked for the shared deadline tick and for
 * graceful shutdown.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import { subscribeTick } from '../../core/coarse-tick.js';
import { SampledLogger } from '../../core/sampled-log.js';
import type { AccessLog } from '../../observability/access-log.js';
import type { EdgeMetrics } from '../../observability/edge-metrics.js';
import type { UpstreamServer } from '../edge/upstream.js';
import type { TLSSocket } from 'node:tls';
import { Http1Connection } from './http1-connection.js';
import { H2Connection } from './h2-connection.js';
import type { ClientConnection, HttpFrontendRuntime, HttpProxyShared } from './shared.js';
import { BanWatch } from '../edge-firewall/index.js';
import type { BoundAddress, ServerFactory } from '../listener/listen.js';
import { BoundServers } from '../listener/bound-servers.js';

export class HttpListener implements HttpProxyShared {
  private runtime: HttpFrontendRuntime;
  private bound: BoundServers | undefined;
  private readonly connections = new Set<ClientConnection>();
  private unsubscribe: (() => void) | undefined;
  closing = false;
  private seq = 0;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private readonly sampled: SampledLogger;
  private readonly bans = new BanWatch((ip) => this.cut(ip));

  constructor(
    runtime: HttpFrontendRuntime,
    readonly metrics: EdgeMetrics,
    readonly accessLog: AccessLog | undefined,
    readonly log: Logger,
    private readonly ejected: (server: UpstreamServer, reason: string) => void,
    /** TLS frontends: makes TLS listening sockets (see data-plane/tls). */
    private readonly createServer?: ServerFactory,
  ) {
    this.runtime = runtime;
    this.sampled = new SampledLogger(log);
  }

  current(): HttpFrontendRuntime {
    return this.runtime;
  }

  swap(runtime: HttpFrontendRuntime): void {
    this.runtime = runtime;
    if (this.bound) this.bans.follow(runtime.firewall);
  }

  /** `ip` was just banned: its own connections stop carrying it (bans are rare: a walk, no index). */
  private cut(ip: string): void {
    for (const c of this.connections) {
      if (!c.cutIfBanned(ip)) continue;
      this.metrics.refusal(this.runtime.name, 'banned');
      this.sampledWarn('banned', { client: ip }, 'http connection closed: its client was banned');
    }
  }

  nextRequestId(): string {
    return this.idPrefix + (++this.seq).toString(36).padStart(6, '0');
  }

  forget(conn: ClientConnection): void {
    this.connections.delete(conn);
  }

  onEjected(server: UpstreamServer, reason: string): void {
    this.ejected(server, reason);
  }

  sampledWarn(reason: string, fields: Record<string, unknown>, msg: string): void {
    this.sampled.warn(reason, { frontend: this.runtime.name, ...fields }, msg);
  }

  activeConnections(): number {
    return this.connections.size;
  }

  /** Also listen on these addresses (all or none). */
  addBinds(addresses: readonly BoundAddress[]): Promise<void> {
    return this.bound!.add(addresses);
  }

  /** Stop accepting on this host; its accepted connections carry on. */
  removeHost(host: string): void {
    this.bound?.removeHost(host);
  }

  async listen(addresses: readonly BoundAddress[]): Promise<void> {
    this.bound = new BoundServers((socket) => {
      // ALPN chose the protocol during the TLS handshake (plain sockets have no alpnProtocol).
      const h2 = (socket as TLSSocket).alpnProtocol === 'h2';
      this.connections.add(h2 ? new H2Connection(socket, this) : new Http1Connection(socket, this));
    }, this.createServer ? { createServer: this.createServer } : {});
    await this.bound.add(addresses);
    this.bans.follow(this.runtime.firewall);
    this.unsubscribe = subscribeTick({
      onTick: (now) => {
        for (const c of this.connections) if (c.deadline !== 0 && c.deadline <= now) c.expire(now);
      },
    });
  }

  /** Stop accepting; let in-flight exchanges finish for up to graceMs, then cut the rest. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    // close() stops accepting at once, but its callback waits for every connection to end: so
    // shut connections down now and await the callback last, or idle keep-alive clients would
    // hold the close for their whole keep-alive time, whatever graceMs says.
    const closed = this.bound?.closeAll();
    for (const c of this.connections) c.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const c of this.connections) c.destroy();
    this.unsubscribe?.();
    this.bans.follow(undefined);
    await closed;
  }
}
