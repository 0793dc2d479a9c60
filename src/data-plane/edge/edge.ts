/**
 * The edge of one lb node: frontends (HTTP and TCP listeners), backends and their health checks.
 * `reload` is transactional: new listeners are opened first; if any fails, everything new is
 * closed and the running config is untouched. Servers are matched across reloads by backend and
 * address, so their health, ejection, drain state and counters carry over.
 */
import type { BackendSpec, EdgeSpec, FrontendSpec } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import { subscribeTick } from '../../core/coarse-tick.js';
import type { AccessLog } from '../../observability/access-log.js';
import { EdgeMetrics, type ServerView } from '../../observability/edge-metrics.js';
import type { Registry } from 'prom-client';
import { BackendRuntime } from './backend.js';
import { Router } from './router.js';
import type { UpstreamServer } from './upstream.js';
import { HttpListener } from '../l7-proxy/http-listener.js';
import { H2_SUPPORTED } from '../l7-proxy/h2-connection.js';
import type { HttpFrontendRuntime } from '../l7-proxy/shared.js';
import { TcpListener } from '../l4-proxy/tcp-listener.js';
import { formatAddress, type BoundAddress } from '../listener/listen.js';
import { tlsServerFactory, type CertificateStore, type ChallengeResponder } from '../tls/index.js';
import { EdgeFirewall } from '../edge-firewall/index.js';
import { headerPairs } from '../http2/headers.js';
import type { ProbeTls } from '../health/index.js';

export interface EdgeOptions {
  /** Addresses every frontend binds from the start (the node's own address); see addBindHost. */
  readonly bindHosts: readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: Registry;
  readonly accessLog?: AccessLog;
  /** How long a closing listener lets in-flight exchanges finish. */
  readonly graceMs?: number;
  /** What HTTPS frontends serve (required when a frontend has an HTTPS port). */
  readonly certificates?: CertificateStore;
  /** ACME HTTP-01 answers served on plain-HTTP ports (edge.tls.source: acme). */
  readonly challenges?: ChallengeResponder;
  /** HTTP health checks go over mutual TLS with these (the db router checking agent APIs). */
  readonly checkTls?: ProbeTls;
}

/** One listening port: an http frontend with an HTTPS port has two (`http:80`, `https:443`). */
type Listener = ({ kind: 'http'; l: HttpListener } | { kind: 'tcp'; l: TcpListener }) & { spec: FrontendSpec; port: number; tls: boolean };

export interface ServerStatus {
  name: string;
  address: string;
  up: boolean;
  backup: boolean;
  draining: boolean;
  weight: number;
  active: number;
  total: number;
  check: { state: string; detail: string };
  ejected: boolean;
  ejections: number;
}

export interface EdgeStatus {
  frontends: { name: string; mode: string; port: number; binds: string[]; connections: number }[];
  backends: { name: string; mode: string; policy: string; queue: number; retries: number; servers: ServerStatus[] }[];
}

export class Edge {
  private spec: EdgeSpec;
  private backends = new Map<string, BackendRuntime>();
  private listeners = new Map<string, Listener>();
  readonly metrics: EdgeMetrics;
  private unsubscribe: (() => void) | undefined;
  private bindHosts: string[];
  /** Edge firewalls by frontend name: their state (buckets, bans) outlives reloads. */
  private readonly firewalls = new Map<string, EdgeFirewall>();
  private lastPrune = 0;

  constructor(spec: EdgeSpec, private readonly opts: EdgeOptions) {
    this.spec = spec;
    this.bindHosts = [...opts.bindHosts];
    this.metrics = EdgeMetrics.attach(opts.registry, {
      servers: () => this.serverViews(),
      queues: () => [...this.backends.values()].map((b) => ({ backend: b.spec.name, length: b.queueLength() })),
      connections: () => [...this.listeners.values()].map((x) => ({ frontend: x.spec.name, active: x.l.activeConnections() })),
      certificates: () => opts.certificates?.served() ?? [],
    });
  }

  private *serverViews(): Iterable<ServerView> {
    for (const b of this.backends.values()) yield* b.servers;
  }

  async start(): Promise<void> {
    const backends = this.buildBackends(this.spec.backends, new Map());
    const listeners = await this.openListeners(this.spec, backends, new Map());
    this.backends = backends;
    this.listeners = listeners;
    for (const b of backends.values()) b.start();
    this.unsubscribe = subscribeTick({
      onTick: (now) => {
        for (const b of this.backends.values()) for (const s of b.servers) s.reapIdle(now);
        if (now - this.lastPrune >= 5000) {
          this.lastPrune = now;
          for (const fw of this.firewalls.values()) fw.prune(now);
        }
      },
    });
    const binds = [...listeners.values()].map((x) => `${x.spec.name}(${x.tls ? 'https' : x.spec.mode}) on ${this.bindsOf(x.port).map(formatAddress).join(', ')}`);
    this.opts.log.info({ frontends: binds }, `edge serving ${binds.join('; ')}`);
  }

  private bindsOf(port: number): BoundAddress[] {
    return this.bindHosts.map((host) => ({ host, port }));
  }

  /** Every frontend also listens on this host (the VIP, on takeover); all frontends or none. */
  async addBindHost(host: string): Promise<void> {
    if (this.bindHosts.includes(host)) return;
    const done: Listener[] = [];
    try {
      for (const x of this.listeners.values()) {
        await x.l.addBinds([{ host, port: x.port }]);
        done.push(x);
      }
    } catch (err) {
      for (const x of done) x.l.removeHost(host);
      throw err;
    }
    this.bindHosts.push(host);
  }

  /** Stop accepting on this host in every frontend; connections already accepted carry on. */
  removeBindHost(host: string): void {
    for (const x of this.listeners.values()) x.l.removeHost(host);
    this.bindHosts = this.bindHosts.filter((h) => h !== host);
  }

  private buildBackends(specs: readonly BackendSpec[], previous: Map<string, BackendRuntime>): Map<string, BackendRuntime> {
    const out = new Map<string, BackendRuntime>();
    for (const spec of specs) {
      const old = previous.get(spec.name);
      const oldServers = new Map(old?.servers.map((s) => [s.key, s]) ?? []);
      const b = new BackendRuntime(
        spec, this.opts.clock,
        {
          serverStateChanged: (backend, server, up, reason) => this.onServerState(backend, server, up, reason),
          sessionsCut: (backend, server, count, reason) => this.opts.log.warn({ backend, server: server.name, count, reason }, `cut ${count} tcp session(s) to ${backend}/${server.name}: ${reason}`),
        },
        oldServers, old?.healthChecks(), this.opts.checkTls,
      );
      out.set(spec.name, b);
    }
    return out;
  }

  private onServerState(backend: string, server: UpstreamServer, up: boolean, reason: string): void {
    this.metrics.transition(backend, server.name, up);
    const line = `server ${backend}/${server.name} (${server.address}) is ${up ? 'UP' : 'DOWN'}: ${reason}`;
    if (up) this.opts.log.info({ backend, server: server.name, up, reason }, line);
    else this.opts.log.warn({ backend, server: server.name, up, reason }, line);
  }

  private onEjected = (server: UpstreamServer, reason: string): void => {
    this.opts.log.warn(
      { backend: server.backendName, server: server.name, reason, until: server.passive.ejectedUntil },
      `server ${server.backendName}/${server.name} ejected by passive health: ${reason}`,
    );
  };

  private frontendRuntime(fe: FrontendSpec, backends: Map<string, BackendRuntime>, tls: boolean, hsts: number): HttpFrontendRuntime {
    const resolve = (name: string): BackendRuntime => backends.get(name)!;
    return {
      name: fe.name, spec: fe, proto: tls ? 'https' : 'http',
      router: new Router(fe.routes, resolve, fe.defaultBackend ? resolve(fe.defaultBackend) : undefined),
      ...responseHeaders(tls && hsts > 0 ? `strict-transport-security: max-age=${Math.floor(hsts / 1000)}\r\n` : ''),
      ...this.firewallOf(fe),
      ...(!tls && fe.httpsPort !== undefined && fe.redirectToHttps && { httpsRedirectPort: fe.httpsPort }),
      ...(!tls && this.opts.challenges && { challenges: this.opts.challenges }),
    };
  }

  /** The frontend's firewall, created on first use; a reload reconfigures it once it commits. */
  private firewallOf(fe: FrontendSpec): { firewall?: EdgeFirewall } {
    if (!fe.firewall) return {};
    let fw = this.firewalls.get(fe.name);
    if (!fw) this.firewalls.set(fe.name, (fw = new EdgeFirewall(fe.firewall)));
    return { firewall: fw };
  }

  /** After a reload: new rules for kept firewalls (their buckets and bans stay), drop the unused. */
  private commitFirewalls(frontends: readonly FrontendSpec[]): void {
    const wanted = new Map(frontends.flatMap((f) => (f.firewall ? [[f.name, f.firewall] as const] : [])));
    for (const [name, fw] of this.firewalls) {
      const spec = wanted.get(name);
      if (spec) fw.reconfigure(spec);
      else this.firewalls.delete(name);
    }
  }

  /** Bans across frontends (for the agent API and the CLI). */
  bans(now: number): { frontend: string; client: string; until: string }[] {
    return [...this.firewalls.entries()].flatMap(([frontend, fw]) => fw.bans(now).map((b) => ({ frontend, client: b.client, until: new Date(b.untilMs).toISOString() })));
  }

  /** Lift a ban on every frontend; returns the frontends it was lifted on. */
  liftBan(client: string, now: number): string[] {
    return [...this.firewalls.entries()].filter(([, fw]) => fw.lift(client, now)).map(([name]) => name);
  }

  /** The ports a frontend listens on: its port, and its HTTPS port when it has one. */
  private portsOf(fe: FrontendSpec): { key: string; port: number; tls: boolean }[] {
    const plain = { key: `${fe.mode}:${fe.port}`, port: fe.port, tls: false };
    return fe.mode === 'http' && fe.httpsPort !== undefined ? [plain, { key: `https:${fe.httpsPort}`, port: fe.httpsPort, tls: true }] : [plain];
  }

  /** Open listeners for frontends that are new (or changed port/mode); reuse the others. */
  private async openListeners(
    spec: EdgeSpec, backends: Map<string, BackendRuntime>, current: Map<string, Listener>,
  ): Promise<Map<string, Listener>> {
    const next = new Map<string, Listener>();
    const opened: Listener[] = [];
    const hsts = spec.tls?.hstsMaxAgeMs ?? 0;
    try {
      for (const fe of spec.frontends) {
        for (const { key, port, tls } of this.portsOf(fe)) {
          const existing = current.get(key);
          if (existing) {
            if (existing.kind === 'http') existing.l.swap(this.frontendRuntime(fe, backends, tls, hsts));
            else existing.l.swap({ name: fe.name, spec: fe, backend: backends.get(fe.defaultBackend!)!, ...this.firewallOf(fe) });
            existing.spec = fe;
            next.set(key, existing);
            continue;
          }
          const listener = this.newListener(fe, backends, port, tls, hsts);
          await listener.l.listen(this.bindsOf(port));
          opened.push(listener);
          next.set(key, listener);
        }
      }
    } catch (err) {
      await Promise.all(opened.map((x) => x.l.close(0)));
      throw err;
    }
    return next;
  }

  private newListener(fe: FrontendSpec, backends: Map<string, BackendRuntime>, port: number, tls: boolean, hsts: number): Listener {
    if (fe.mode === 'tcp') {
      const l = new TcpListener({ name: fe.name, spec: fe, backend: backends.get(fe.defaultBackend!)!, ...this.firewallOf(fe) }, this.metrics, this.opts.log, this.onEjected);
      return { kind: 'tcp', l, spec: fe, port, tls: false };
    }
    const store = this.opts.certificates;
    if (tls && !store) throw new BulwarkError('BWK_LISTEN_FAILED', `frontend ${fe.name} has an HTTPS port but the edge has no certificates (edge.tls)`);
    // HTTP/2 for TLS clients that offer it (plain HTTP stays HTTP/1: no h2c). Not with the PROXY
    // protocol, whose header the HTTP/1 connection reads from the decrypted stream.
    const factory = tls ? tlsServerFactory(store!, fe.name, this.metrics, fe.proxyProtocol || !H2_SUPPORTED ? ['http/1.1'] : ['h2', 'http/1.1']) : undefined;
    const l = new HttpListener(this.frontendRuntime(fe, backends, tls, hsts), this.metrics, this.opts.accessLog, this.opts.log, this.onEjected, factory);
    return { kind: 'http', l, spec: fe, port, tls };
  }

  /** Apply a new edge config without dropping a request; on failure the old one keeps running. */
  async reload(spec: EdgeSpec): Promise<void> {
    const oldBackends = this.backends;
    const backends = this.buildBackends(spec.backends, oldBackends);
    // Listeners are swapped in place only after every new one is open; build against copies.
    const currentByKey = new Map(this.listeners);
    let listeners: Map<string, Listener>;
    const swapped: { l: Listener; prev: FrontendSpec; prevRuntime: unknown }[] = [];
    try {
      for (const x of currentByKey.values()) swapped.push({ l: x, prev: x.spec, prevRuntime: x.l.current() });
      listeners = await this.openListeners(spec, backends, currentByKey);
    } catch (err) {
      // Undo in-place swaps on listeners that were reused before the failure.
      for (const s of swapped) {
        s.l.spec = s.prev;
        if (s.l.kind === 'http') s.l.l.swap(s.prevRuntime as HttpFrontendRuntime);
        else s.l.l.swap(s.prevRuntime as ReturnType<TcpListener['current']>);
      }
      for (const b of backends.values()) b.stop(new Set(oldBackends.get(b.spec.name)?.servers));
      // Building the new backends updated the servers they share with the running ones: undo that.
      for (const b of oldBackends.values()) b.reapplySpec();
      throw new BulwarkError('BWK_RELOAD_FAILED', `reload failed, previous configuration kept: ${(err as Error).message}`, [], { cause: err });
    }
    const kept = new Set<UpstreamServer>();
    for (const b of backends.values()) for (const s of b.servers) kept.add(s);
    for (const b of oldBackends.values()) {
      const next = backends.get(b.spec.name);
      if (next) b.handOver(next);
      b.stop(kept);
    }
    for (const b of backends.values()) b.start();
    this.backends = backends;
    const removed = [...this.listeners.entries()].filter(([key]) => !listeners.has(key));
    this.listeners = listeners;
    this.spec = spec;
    this.commitFirewalls(spec.frontends);
    await Promise.all(removed.map(([, x]) => x.l.close(this.opts.graceMs ?? 10_000)));
    this.opts.log.info({ frontends: listeners.size, backends: backends.size }, `edge reloaded: ${listeners.size} frontend(s), ${backends.size} backend(s)`);
  }

  /** Drain (or undrain) every server with this name; returns what was changed. */
  drain(serverName: string, on: boolean): { backend: string; server: string; active: number }[] {
    const changed: { backend: string; server: string; active: number }[] = [];
    for (const b of this.backends.values()) {
      const s = b.findServer(serverName);
      if (!s) continue;
      s.draining = on;
      if (on) s.closeIdle();
      else b.kickQueue();
      changed.push({ backend: b.spec.name, server: s.name, active: s.active });
      this.opts.log.info({ backend: b.spec.name, server: s.name, draining: on, active: s.active },
        on ? `server ${b.spec.name}/${s.name} draining (${s.active} in flight)` : `server ${b.spec.name}/${s.name} back in service`);
    }
    return changed;
  }

  status(): EdgeStatus {
    return {
      frontends: [...this.listeners.values()].map((x) => ({
        name: x.spec.name, mode: x.tls ? 'https' : x.spec.mode, port: x.port, binds: this.bindsOf(x.port).map(formatAddress),
        connections: x.l.activeConnections(),
      })),
      backends: [...this.backends.values()].map((b) => ({
        name: b.spec.name, mode: b.spec.mode, policy: b.spec.balance.policy, queue: b.queueLength(), retries: b.retries,
        servers: b.servers.map((s) => ({
          name: s.name, address: s.address, up: s.up, backup: s.backup, draining: s.draining, weight: s.weight,
          active: s.active, total: s.total, check: { state: s.checkState, detail: s.lastCheckDetail },
          ejected: s.passive.isEjected(), ejections: s.passive.ejections,
        })),
      })),
    };
  }

  async stop(graceMs = this.opts.graceMs ?? 10_000): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.listeners.values()].map((x) => x.l.close(graceMs)));
    for (const b of this.backends.values()) b.stop();
    this.listeners.clear();
  }
}

/** A frontend's own response headers, as HTTP/1 lines and as HTTP/2 pairs. */
function responseHeaders(lines: string): { responseHeaders: string; responseHeaderList: [string, string][] } {
  return { responseHeaders: lines, responseHeaderList: headerPairs(lines) };
}
