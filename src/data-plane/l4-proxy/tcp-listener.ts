/**
 * A plain TCP (L4) frontend: each client connection is paired with one server connection and
 * bytes are forwarded both ways. The client is paused until the server connection is up, so a
 * failed connect can be retried on another server without losing a byte.
 *
 * Per connection pair there is one TcpSession and no closures: both sockets carry their session
 * (under SESSION) and share module-level listeners. Both read into one shared buffer (`onread`,
 * see readInto), and each read is copied into the write to the other side, with pause/resume
 * backpressure (what pipe() does, without a buffer allocation per read and the stream plumbing
 * behind 'data' and pipe()). The connect and idle timeouts are one deadline on the shared coarse
 * tick instead of a timer per socket that every chunk re-arms.
 *
 * A ban made by the frontend's firewall cuts the client's open sessions: a tcp session has no
 * next request to refuse. Sessions the firewall admitted are kept by client address for that
 * (work per connection, none per byte).
 */
import net from 'node:net';
import type { FrontendSpec } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import { TICK_MS, coarseNow, subscribeTick } from '../../core/coarse-tick.js';
import { SampledLogger } from '../../core/sampled-log.js';
import type { EdgeMetrics } from '../../observability/edge-metrics.js';
import { FULL, type BackendRuntime } from '../edge/backend.js';
import { BanWatch, type EdgeFirewall } from '../edge-firewall/index.js';
import { normalizeIp } from '../../core/cidr.js';
import { parseProxyHeader, type ProxyHeader } from '../proxy-protocol/index.js';
import type { UpstreamServer } from '../edge/upstream.js';
import type { PickContext } from '../balancer/index.js';
import type { BoundAddress } from '../listener/listen.js';
import { BoundServers } from '../listener/bound-servers.js';
import { readInto } from '../listener/read-buffer.js';

export interface TcpFrontendRuntime {
  readonly name: string;
  readonly spec: FrontendSpec;
  readonly backend: BackendRuntime;
  /** The frontend's edge firewall: judges each connection (lists, bans, cap, rate). */
  readonly firewall?: EdgeFirewall;
}

const SESSION = Symbol('bulwark.tcpSession');
type SessionSocket = net.Socket & { [SESSION]: TcpSession };

/** The read buffer of every tcp socket: a read is copied out (into its write) before the next. */
const READ = Buffer.allocUnsafeSlow(64 * 1024);

/** The first `n` bytes of READ in a buffer of their own (from node's pool when small). */
function readBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  READ.copy(out, 0, 0, n);
  return out;
}

/** One client connection and its server connection (the current attempt's). */
class TcpSession implements PickContext {
  upstream: SessionSocket | undefined = undefined;
  server: UpstreamServer | undefined = undefined;
  /** This attempt holds a slot on `server` (server.active). */
  holdsSlot = false;
  /** Retries so far (0 on the first server). */
  attempt = 0;
  connected = false;
  /**
   * Coarse-tick deadline: the connect timeout until connected, then the idle timeout; 0 = none.
   * coarseNow() may be up to a tick old, so deadlines add a tick: a timeout never fires early
   * (like the setTimeout it replaces) and at most two ticks late.
   */
  deadline = 0;
  /** The frontend's idle timeout plus one tick (see deadline). */
  readonly idleMs: number;
  private ip: string | undefined = undefined;
  /** Admitted by this firewall (which counts it until it closes). */
  firewall: EdgeFirewall | undefined;
  /** The client a PROXY header named (else the peer's address is looked up on first use). */
  set clientAddress(ip: string) {
    this.ip = ip;
  }

  constructor(
    readonly listener: TcpListener,
    readonly fe: TcpFrontendRuntime,
    readonly client: SessionSocket,
    readonly started: number,
  ) {
    this.idleMs = fe.spec.timeouts.idleMs + TICK_MS;
  }

  /** Looked up on first use (getpeername is a system call; round robin never asks). */
  get clientIp(): string {
    if (this.ip === undefined) this.ip = normalizeIp(this.client.remoteAddress ?? '');
    return this.ip;
  }

  header(): undefined {
    return undefined;
  }

  cookie(): undefined {
    return undefined;
  }

  release(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    this.server!.active--;
    this.fe.backend.kickQueue();
  }
}

export class TcpListener {
  private runtime: TcpFrontendRuntime;
  private bound: BoundServers | undefined;
  private readonly sessions = new Set<TcpSession>();
  /** The firewall whose bans this listener hears (the current runtime's, while listening). */
  private readonly bans = new BanWatch((ip) => this.cut(ip));
  private readonly sampled: SampledLogger;
  private unsubscribe: (() => void) | undefined;

  constructor(
    runtime: TcpFrontendRuntime,
    readonly metrics: EdgeMetrics,
    log: Logger,
    readonly ejected: (server: UpstreamServer, reason: string) => void,
  ) {
    this.runtime = runtime;
    this.sampled = new SampledLogger(log);
  }

  current(): TcpFrontendRuntime {
    return this.runtime;
  }

  swap(runtime: TcpFrontendRuntime): void {
    this.runtime = runtime;
    if (this.bound) this.bans.follow(runtime.firewall);
  }

  activeConnections(): number {
    return this.sessions.size;
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
    // Half-open: a client's FIN is passed on to the server and the server's answer still flows
    // back; without it node would end the client side at once and drop that answer.
    this.bound = new BoundServers((client) => this.onConnection(client), { allowHalfOpen: true });
    await this.bound.add(addresses);
    this.bans.follow(this.runtime.firewall);
    this.unsubscribe = subscribeTick({
      onTick: (now) => {
        for (const s of this.sessions) if (s.deadline !== 0 && s.deadline <= now) expire(s);
      },
    });
  }

  private onConnection(socket: net.Socket): void {
    if (this.runtime.spec.proxyProtocol) return this.readProxyHeader(socket);
    this.startSession(socket, undefined, undefined);
  }

  /**
   * proxy_protocol: read the header (from a trusted proxy only, within the request-header
   * timeout) before anything else; the bytes after it are put back for the session.
   */
  private readProxyHeader(socket: net.Socket): void {
    const peer = normalizeIp(socket.remoteAddress ?? '');
    const fw = this.runtime.firewall;
    const drop = (reason: string, message: string): void => {
      this.metrics.refusal(this.runtime.name, reason);
      this.sampled.warn(reason, { frontend: this.runtime.name, client: peer, reason: message }, 'tcp connection refused');
      socket.destroy();
    };
    socket.on('error', ignore);
    if (!fw?.isTrusted(peer)) return drop('untrusted-proxy', `${peer} is not a trusted proxy (this frontend expects the PROXY protocol)`);
    let buf = Buffer.alloc(0);
    const stopReading = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
    };
    const timer = setTimeout(() => {
      stopReading();
      drop('slow-proxy-header', 'no complete PROXY header in time');
    }, this.runtime.spec.timeouts.requestHeaderMs);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      let h: ProxyHeader | undefined;
      try {
        h = parseProxyHeader(buf);
      } catch (err) {
        stopReading();
        return drop('bad-proxy-header', (err as Error).message);
      }
      if (!h) return;
      stopReading();
      socket.pause();
      if (buf.length > h.length) socket.unshift(buf.subarray(h.length));
      this.startSession(socket, h.source ? normalizeIp(h.source.address) : peer, 'data');
    };
    socket.on('data', onData);
  }

  /**
   * `clientIp`: the client a PROXY header named (else the peer, looked up only when needed);
   * `reads`: 'data' when the socket was already read from (onread can no longer be set up).
   */
  private startSession(socket: net.Socket, clientIp: string | undefined, reads: 'data' | undefined): void {
    const client = socket as SessionSocket;
    const fw = this.runtime.firewall;
    // With a firewall the address is needed now (to judge it, and for a ban to find it).
    const ip = clientIp ?? (fw ? normalizeIp(socket.remoteAddress ?? '') : undefined);
    if (fw && !this.admit(fw, socket, ip!)) return;
    const s = new TcpSession(this, this.runtime, client, performance.now());
    if (ip !== undefined) s.clientAddress = ip;
    client[SESSION] = s;
    this.sessions.add(s);
    if (fw) s.firewall = fw;
    if (reads === 'data' || !readInto(client, READ, onClientRead)) client.on('data', onClientData);
    client.pause();
    client.setNoDelay(true);
    client.on('error', ignore);
    client.on('close', onClientClose);
    client.on('end', onClientEnd);
    client.on('drain', onClientDrain);
    this.connectTo(s, undefined, 0);
  }

  connectTo(s: TcpSession, avoid: UpstreamServer | undefined, attempt: number): void {
    const fe = s.fe;
    const backend = fe.backend;
    const client = s.client;
    if (client.destroyed) return;
    const server = backend.select(s, avoid);
    if (server === undefined || server === FULL) {
      const reason = server === FULL ? 'every server at maxconn' : 'no server available';
      this.metrics.refusal(fe.name, server === FULL ? 'queue-full' : 'no-server');
      this.sampled.warn('tcp-no-server', { frontend: fe.name, backend: backend.spec.name, client: s.clientIp }, `tcp connection refused: ${reason}`);
      client.destroy();
      return;
    }
    server.active++;
    server.total++;
    s.server = server;
    s.holdsSlot = true;
    s.attempt = attempt;
    const upstream = net.connect({ host: server.host, port: server.port, onread: { buffer: READ, callback: onUpstreamRead } }) as SessionSocket;
    upstream[SESSION] = s;
    s.upstream = upstream;
    upstream.setNoDelay(true);
    s.deadline = coarseNow() + backend.spec.timeouts.connectMs + TICK_MS;
    upstream.on('connect', onUpstreamConnect);
    upstream.on('error', onUpstreamError);
    upstream.on('close', onUpstreamClose);
    upstream.on('end', onUpstreamEnd);
    upstream.on('drain', onUpstreamDrain);
    backend.budget.recordRequest(Date.now());
  }

  /** The connect of the current attempt failed: retry on another server or give up. */
  connectFailed(s: TcpSession, err: Error): void {
    const backend = s.fe.backend;
    const server = s.server!;
    s.release();
    if (server.passive.failure(err.message)) {
      this.metrics.ejection(backend.spec.name, server.name);
      this.ejected(server, err.message);
    }
    if (s.attempt < backend.spec.retries.attempts && backend.budget.tryRetry(Date.now())) {
      backend.retries++;
      this.metrics.retry(backend.spec.name);
      this.connectTo(s, server, s.attempt + 1);
    } else {
      this.metrics.request(s.fe.name, backend.spec.name, server.name, 503, (performance.now() - s.started) / 1000);
      s.client.destroy();
    }
  }

  forget(s: TcpSession): void {
    this.sessions.delete(s);
    if (s.firewall) {
      const ip = s.clientIp;
      s.firewall.onClose(ip);
      s.firewall = undefined;
    }
  }

  /**
   * `ip` was just banned: its open sessions end now (both sides; 'close' forgets them). Bans are
   * rare, so they walk the sessions rather than every connection keeping an index by client.
   */
  private cut(ip: string): void {
    for (const s of this.sessions) {
      if (!s.firewall || s.clientIp !== ip || s.client.destroyed) continue;
      this.metrics.refusal(this.runtime.name, 'banned');
      this.sampled.warn('banned', { frontend: this.runtime.name, client: ip }, 'tcp connection cut: its client was banned');
      s.client.destroy();
    }
  }

  /** The edge firewall's word on a new connection: refused ones are dropped (and counted). */
  private admit(fw: EdgeFirewall, socket: net.Socket, ip: string): boolean {
    const now = coarseNow();
    const v = fw.onAccept(ip, now);
    const verdict = v ?? fw.onRequest(ip, false, now);
    if (!verdict) return true;
    if (!v) fw.onClose(ip); // admitted by onAccept, then rate-limited: not an open connection
    this.metrics.refusal(this.runtime.name, verdict.reason);
    this.sampled.warn(verdict.reason, { frontend: this.runtime.name, client: ip, reason: verdict.message }, 'tcp connection refused');
    if (fw.onRefused(ip, verdict.status, now)) this.metrics.refusal(this.runtime.name, 'ban');
    socket.on('error', ignore);
    socket.destroy();
    return false;
  }

  async close(graceMs: number): Promise<void> {
    // Stop accepting now; the close callback waits for every connection, so await it last.
    const closed = this.bound?.closeAll();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const s of this.sessions) s.client.destroy();
    this.bans.follow(undefined);
    this.unsubscribe?.();
    await closed;
  }
}

function ignore(): void {}

/** end() unless already ended or destroyed: end() on those builds a Node error object (a stack trace) per call. */
function endSocket(socket: net.Socket): void {
  if (!socket.destroyed && !socket.writableEnded) socket.end();
}

/** The deadline passed: a connect that takes too long fails (and may retry); an idle pair is cut. */
function expire(s: TcpSession): void {
  s.deadline = 0;
  if (!s.connected) s.upstream?.destroy(new Error('connect timeout'));
  else s.client.destroy();
}

// ── Client socket listeners (`this` is the client) ───────────────────────────────────────────
/** `onread` callback (node calls it on the socket): n bytes in READ. */
function onClientRead(this: SessionSocket, n: number): boolean {
  const s = this[SESSION];
  const up = s.upstream;
  if (up === undefined || up.destroyed || up.writableEnded) return true;
  s.deadline = coarseNow() + s.idleMs;
  if (!up.write(readBytes(n))) this.pause();
  return true;
}

/** 'data' instead of onClientRead where readInto is not available. */
function onClientData(this: SessionSocket, chunk: Buffer): void {
  const s = this[SESSION];
  const up = s.upstream;
  if (up === undefined || up.destroyed || up.writableEnded) return;
  s.deadline = coarseNow() + s.idleMs;
  if (!up.write(chunk)) this.pause();
}

/** The client's FIN goes on to the server (once connected; before that, onUpstreamConnect does it). */
function onClientEnd(this: SessionSocket): void {
  const s = this[SESSION];
  if (s.connected) endSocket(s.upstream!);
}

function onClientDrain(this: SessionSocket): void {
  const up = this[SESSION].upstream;
  if (up !== undefined && this[SESSION].connected) up.resume();
}

function onClientClose(this: SessionSocket): void {
  const s = this[SESSION];
  s.listener.forget(s);
  s.deadline = 0;
  s.server?.sessions.delete(this);
  s.upstream?.destroy();
}

// ── Server socket listeners (`this` is the server connection; stale attempts are ignored) ────
function onUpstreamConnect(this: SessionSocket): void {
  const s = this[SESSION];
  if (this !== s.upstream) return;
  s.connected = true;
  s.server!.passive.success();
  s.deadline = coarseNow() + s.idleMs;
  const client = s.client;
  client.resume();
  s.server!.sessions.add(client);
  // A client that already sent its FIN (with nothing buffered) ended before we could pass it on.
  if (client.readableEnded) endSocket(this);
}

function onUpstreamError(this: SessionSocket, err: Error): void {
  const s = this[SESSION];
  if (this !== s.upstream || s.connected) return; // 'close' follows and handles the rest
  s.listener.connectFailed(s, err);
}

/** `onread` callback (node calls it on the socket): n bytes in READ. */
function onUpstreamRead(this: SessionSocket, n: number): boolean {
  const s = this[SESSION];
  const client = s.client;
  if (this !== s.upstream || client.destroyed || client.writableEnded) return true;
  s.deadline = coarseNow() + s.idleMs;
  if (!client.write(readBytes(n))) this.pause();
  return true;
}

/** The server sent its FIN: pass it on (node ends the server connection's side itself). */
function onUpstreamEnd(this: SessionSocket): void {
  const s = this[SESSION];
  if (this === s.upstream) endSocket(s.client);
}

function onUpstreamDrain(this: SessionSocket): void {
  const s = this[SESSION];
  if (this === s.upstream) s.client.resume();
}

function onUpstreamClose(this: SessionSocket): void {
  const s = this[SESSION];
  if (this !== s.upstream) return;
  s.release();
  if (!s.connected) return; // connect failed (onUpstreamError handled it) or the client left first
  const fe = s.fe;
  s.listener.metrics.request(fe.name, fe.backend.spec.name, s.server!.name, 200, (performance.now() - s.started) / 1000);
  endSocket(s.client);
}
