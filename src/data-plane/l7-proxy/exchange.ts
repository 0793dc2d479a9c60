/**
 * One request on its way through the edge, whatever protocol the client speaks: route, select a
 * server, queue, send over a pooled HTTP/1.1 connection, read the response head, retry, time out,
 * log. The client side (an HTTP/1 connection, an HTTP/2 stream) is the subclass: it reads the
 * request, writes the response and decides what happens after. The request path is drawn in
 * docs/request-path.md; every failure here ends as a status code, an access-log line and a
 * metric, never as an exception out of the event loop.
 *
 *   route ──▶ select server ──▶ (queue) ──▶ send ──▶ response head ──▶ body ──▶ done
 *    │404         │503           │503 timeout  │retry/502/503  │504        │abort
 */
import { performance } from 'node:perf_hooks';
import { HeadError, keptFields, parseResponseHead, type RequestHead, type ResponseHead } from '../http1/head.js';
import { BodyFramer, responseFraming } from '../http1/framing.js';
import { FULL, type BackendRuntime, type QueueWaiter } from '../edge/backend.js';
import type { UpstreamConn, UpstreamOwner, UpstreamServer } from '../edge/upstream.js';
import { stickyValue, type PickContext } from '../balancer/index.js';
import { TICK_MS, coarseNow } from '../../core/coarse-tick.js';
import type { HttpFrontendRuntime, HttpProxyShared } from './shared.js';
import type { EdgeFirewall, Verdict } from '../edge-firewall/index.js';

export const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_RESPONSE_HEAD = 64 * 1024;

export const enum Req { Head, Body, Done }
export const enum Res { None, Head, Body, Tunnel }
export const enum Deadline { None, KeepAlive, Head, Queue, Connect, Response, Idle }

export abstract class Exchange implements UpstreamOwner, PickContext, QueueWaiter {
  /** The peer, or with the PROXY protocol the client its header names. */
  clientIp: string;
  deadline = 0;
  queued = false;
  protected req = Req.Head;
  protected res = Res.None;
  protected closed = false;
  protected deadlineKind = Deadline.None;

  // The exchange in progress.
  protected head: RequestHead | undefined;
  protected backend: BackendRuntime | undefined;
  protected server: UpstreamServer | undefined;
  protected upstream: UpstreamConn | undefined;
  private holdsSlot = false;
  protected outHead = '';
  protected replay: Buffer | undefined;
  protected retryable = false;
  protected attempts = 0;
  protected requestId = '';
  protected started = 0;
  private connectStarted = 0;
  protected responseStarted = false;
  private resHeadBuf: Buffer | undefined;
  protected resHead: ResponseHead | undefined;
  /** HTTP/1: close the client connection once this exchange is done. */
  protected closeAfter = false;
  protected closeUpstreamAfter = false;
  protected stickyCookie: string | undefined;
  protected readonly resFramer = new BodyFramer();
  protected sentBytes = 0;
  private upstreamTimedOut = false;
  protected frontendName: string;

  /** The edge firewall the client was admitted by. */
  protected readonly firewall: EdgeFirewall | undefined;
  /** Who the firewall judges for the current request (the peer, or the client a trusted proxy names). */
  protected fwClient = '';
  /** The firewall's epoch when it admitted this connection's peer; -1: not admitted by epoch (a trusted proxy). */
  protected fwEpoch = -1;

  constructor(protected readonly shared: HttpProxyShared, clientIp: string, fe: HttpFrontendRuntime) {
    this.clientIp = clientIp;
    this.frontendName = fe.name;
    this.firewall = fe.firewall;
  }

  // ── The client side ────────────────────────────────────────────────────────────────────────
  /** Answer the client ourselves (a refusal or an upstream failure before any response byte). */
  protected abstract respondError(status: number, message: string, termination: string, close?: boolean, extra?: string): void;
  /** The final response head is in `res`; its body starts at buf[bodyStart]. Forward both. */
  protected abstract startResponse(res: ResponseHead, buf: Buffer, bodyStart: number): void;
  /** Response body bytes from buf[start] on (resFramer says where the body ends). */
  protected abstract forwardResponseBody(buf: Buffer, start: number): void;
  /** A 1xx response other than an accepted upgrade. */
  protected abstract sendInterim(res: ResponseHead): void;
  /** 101 to an Upgrade request: from now on bytes flow both ways untouched. */
  protected abstract startTunnel(res: ResponseHead, rest: Buffer): void;
  protected abstract tunnelToClient(conn: UpstreamConn, data: Buffer): void;
  protected abstract tunnelEnded(): void;
  /** The request head (and any replayable body) went to the server: start forwarding the body. */
  protected abstract onAttached(): void;
  /** The exchange completed (logged, slot freed): what the client side does next. */
  protected abstract exchangeDone(): void;
  /** Something broke after the response started: the client cannot be told, only cut off. */
  protected abstract abortClient(): void;
  protected abstract resumeClient(): void;

  // ── PickContext ────────────────────────────────────────────────────────────────────────────
  get ctx(): PickContext {
    return this;
  }

  header(name: string): string | undefined {
    const raw = this.head?.raw;
    if (!raw) return undefined;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
    return undefined;
  }

  cookie(name: string): string | undefined {
    const c = this.head?.cookie;
    if (!c) return undefined;
    for (const part of c.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return undefined;
  }

  // ── Request ────────────────────────────────────────────────────────────────────────────────
  /** A routed request starts: per-exchange state back to its initial values. */
  protected begin(backend: BackendRuntime): void {
    this.backend = backend;
    this.attempts = 0;
    this.responseStarted = false;
    this.sentBytes = 0;
    this.stickyCookie = undefined;
    this.upstreamTimedOut = false;
    backend.budget.recordRequest(coarseNow());
  }

  /** The head sent to the server: hop-by-hop fields gone, X-Forwarded-*, X-Request-Id added. */
  protected buildRequestHead(head: RequestHead, proto: string): string {
    const upgrade = head.connectionUpgrade && head.upgrade !== undefined;
    let out = head.method + ' ' + head.target + (head.minor === 0 ? ' HTTP/1.0\r\n' : ' HTTP/1.1\r\n') + keptFields(head);
    if (upgrade) out += 'connection: upgrade\r\nupgrade: ' + head.upgrade + '\r\n';
    else if (head.minor === 0) out += 'connection: close\r\n';
    out +=
      'x-forwarded-for: ' + (head.xForwardedFor === undefined ? this.clientIp : head.xForwardedFor + ', ' + this.clientIp) +
      '\r\nx-forwarded-proto: ' + proto +
      (head.host === undefined ? '' : '\r\nx-forwarded-host: ' + head.host) +
      '\r\nx-request-id: ' + this.requestId + '\r\n\r\n';
    return out;
  }

  /** Pick a server (avoiding `avoid` on a retry) and send the request, or queue, or fail. */
  protected dispatch(avoid: UpstreamServer | undefined): void {
    const backend = this.backend!;
    const pick = backend.select(this, avoid);
    if (pick === FULL) {
      if (!backend.enqueue(this)) return this.refuse(503, `queue of backend ${backend.spec.name} is full`, 'queue-full');
      this.setDeadline(Deadline.Queue, backend.spec.queue.timeoutMs);
      return;
    }
    if (!pick) return this.refuse(503, `no server available in backend ${backend.spec.name}`, 'no-server');
    this.attach(pick);
  }

  /** QueueWaiter: a slot opened on `server`. */
  onServer(server: UpstreamServer): void {
    if (this.closed) return;
    this.attach(server);
  }

  /** QueueWaiter: a reload moved this waiting request to the backend's successor. */
  moveTo(backend: BackendRuntime): void {
    this.backend = backend;
  }

  private attach(server: UpstreamServer): void {
    const backend = this.backend!;
    this.server = server;
    server.active++;
    server.total++;
    this.holdsSlot = true;
    if (backend.spec.balance.policy === 'sticky') {
      const want = stickyValue(server);
      if (this.cookie(backend.spec.balance.cookie) !== want) this.stickyCookie = want;
    }
    let conn = this.head!.minor === 0 || this.head!.connectionUpgrade ? undefined : server.takeIdle();
    const fresh = !conn;
    if (!conn) conn = server.connect();
    conn.owner = this;
    this.upstream = conn;
    this.res = Res.Head;
    this.resHeadBuf = undefined;
    this.resHead = undefined;
    this.connectStarted = coarseNow();
    // Connect and response_header both run from now: wake at the earlier, expire() sorts it out.
    if (fresh) this.setDeadline(Deadline.Connect, Math.min(backend.spec.timeouts.connectMs, backend.spec.timeouts.responseHeaderMs));
    else this.setDeadline(Deadline.Response, backend.spec.timeouts.responseHeaderMs);
    const sock = conn.socket;
    sock.write(this.outHead, 'latin1');
    if (this.replay && this.replay.length > 0) sock.write(this.replay);
    this.onAttached();
  }

  // ── Upstream side (UpstreamOwner) ──────────────────────────────────────────────────────────
  onUpstreamDrain(): void {
    this.resumeClient();
  }

  onUpstreamData(conn: UpstreamConn, data: Buffer): void {
    if (conn !== this.upstream) return;
    // `data` is the connection's read buffer: whatever still refers to it after this call (a
    // write node could not finish at once, a partial head) is copied or the buffer is kept.
    if (this.res === Res.Tunnel) return this.tunnelToClient(conn, data);
    if (this.res === Res.Body) return this.forwardResponseBody(data, 0);
    if (this.res !== Res.Head) {
      conn.socket.destroy();
      return;
    }
    const buf = this.resHeadBuf ? Buffer.concat([this.resHeadBuf, data]) : data;
    const end = buf.indexOf(CRLFCRLF);
    // The limit holds whether or not the head completed in the chunk that crossed it.
    if (end > MAX_RESPONSE_HEAD || (end < 0 && buf.length > MAX_RESPONSE_HEAD)) {
      return this.upstreamFailed('response head too large', 502, 'bad-response');
    }
    if (end < 0) {
      this.resHeadBuf = buf === data ? Buffer.from(data) : buf;
      return;
    }
    this.resHeadBuf = undefined;
    let res: ResponseHead;
    try {
      res = parseResponseHead(buf.toString('latin1', 0, end), 200);
    } catch (err) {
      return this.upstreamFailed((err as Error).message, 502, 'bad-response');
    }
    const head = this.head!;
    if (res.status < 200) {
      if (res.status === 101 && head.connectionUpgrade) return this.startTunnel(res, buf.subarray(end + 4));
      // Interim response (100 Continue, 103 Early Hints): pass it on, wait for the final one.
      this.sendInterim(res);
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) this.onUpstreamData(conn, rest);
      return;
    }
    this.resHead = res;
    const framing = responseFraming(head.method, res.status, res.chunked, res.contentLength);
    this.resFramer.reset(framing.kind, framing.length);
    this.closeUpstreamAfter = framing.kind === 'close' || res.connectionClose || res.minor === 0;
    if (framing.kind === 'close') this.closeAfter = true;
    this.responseStarted = true;
    this.res = Res.Body;
    this.setDeadline(Deadline.Idle, this.backend!.spec.timeouts.idleMs);
    this.startResponse(res, buf, end + 4);
  }

  onUpstreamEnd(conn: UpstreamConn, err: Error | undefined): void {
    if (conn !== this.upstream) return;
    this.upstream = undefined;
    if (this.res === Res.Tunnel) return this.tunnelEnded();
    if (this.res === Res.Body && this.resFramer.kind === 'close') {
      this.resFramer.done = true;
      this.closeAfter = true;
      return this.finishExchange();
    }
    if (this.res === Res.Head && !this.responseStarted && this.resHeadBuf === undefined) {
      const fresh = conn.uses === 0;
      const reason = this.upstreamTimedOut ? 'connect timeout' : (err?.message ?? 'connection closed');
      const connectFailed = !conn.connected;
      // A reused keep-alive connection closed by the server is a race, not a sick server.
      if (fresh && this.server) this.recordFailure(this.server, reason);
      if (this.tryRetry(reason)) return;
      return this.upstreamFailed(reason, connectFailed ? 503 : 502, connectFailed ? 'connect-failed' : 'server-reset', true);
    }
    this.abortExchange(`server closed mid-response: ${err?.message ?? 'closed'}`, 502);
  }

  private tryRetry(reason: string): boolean {
    const backend = this.backend!;
    if (!this.retryable || this.attempts >= backend.spec.retries.attempts || this.closed) return false;
    if (!backend.budget.tryRetry(coarseNow())) return false;
    this.attempts++;
    backend.retries++;
    this.shared.metrics.retry(backend.spec.name);
    const failed = this.server;
    this.releaseSlot();
    this.res = Res.None;
    this.shared.log.debug({ requestId: this.requestId, server: failed?.name, reason, attempt: this.attempts }, 'retrying request on another server');
    this.dispatch(failed);
    return true;
  }

  protected recordFailure(server: UpstreamServer, reason: string): void {
    if (server.passive.failure(reason)) {
      this.shared.metrics.ejection(server.backendName, server.name);
      this.shared.onEjected(server, reason);
    }
  }

  // ── Completion and failure ─────────────────────────────────────────────────────────────────
  protected finishExchange(): void {
    const server = this.server!;
    const conn = this.upstream;
    const res = this.resHead!;
    this.upstream = undefined;
    if (conn) {
      if (this.closeUpstreamAfter || this.req !== Req.Done) conn.socket.destroy();
      else server.release(conn);
    }
    if (res.status >= 500 && this.backend!.spec.passiveHealth.count5xx) this.recordFailure(server, `HTTP ${res.status}`);
    else server.passive.success();
    this.releaseSlot();
    this.logExchange(res.status, undefined);
    this.res = Res.None;
    this.head = undefined;
    this.exchangeDone();
  }

  protected releaseSlot(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    const server = this.server!;
    server.active--;
    this.backend!.kickQueue();
  }

  /** The server failed before any response byte reached the client. */
  protected upstreamFailed(message: string, status: number, termination: string, alreadyClosed = false): void {
    if (!alreadyClosed && this.upstream) {
      const u = this.upstream;
      this.upstream = undefined;
      u.owner = undefined;
      u.socket.destroy();
    }
    this.releaseSlot();
    this.res = Res.None;
    this.respondError(status, message, termination);
  }

  /** Something broke mid-exchange: answer if nothing was sent yet, else cut the client off. */
  protected abortExchange(message: string, status: number): void {
    const u = this.upstream;
    this.upstream = undefined;
    if (u) {
      u.owner = undefined;
      u.socket.destroy();
    }
    this.releaseSlot();
    if (!this.responseStarted) {
      this.res = Res.None;
      this.req = Req.Done;
      return this.respondError(status, message, status === 400 || status === 413 ? 'bad-request' : 'server-error');
    }
    this.logExchange(this.resHead?.status ?? status, 'aborted: ' + message);
    this.abortClient();
  }

  /** The client went away: give back the queue place, the server connection and the slot. */
  protected abandonExchange(): void {
    this.closed = true;
    if (this.queued) this.backend?.dequeue(this);
    const u = this.upstream;
    this.upstream = undefined;
    if (u) {
      u.owner = undefined;
      u.socket.destroy();
    }
    if (this.holdsSlot || this.res !== Res.None) {
      const status = this.res === Res.Tunnel ? 101 : (this.resHead?.status ?? 499);
      this.releaseSlot();
      if (this.res !== Res.Tunnel && this.backend) this.logExchange(status, 'client-abort');
    } else if (this.queued === false && this.backend && this.req !== Req.Head) {
      this.logExchange(499, 'client-abort');
    }
    this.res = Res.None;
    this.setDeadline(Deadline.None, 0);
  }

  // ── Refusals decided by the edge before contacting any server ─────────────────────────────
  /**
   * Lists and bans for a client behind a trusted proxy, then the rate limit. A direct client was
   * screened at accept; its ban is checked again only when someone got banned since, so a client
   * banned while its keep-alive connection is open is refused (403, closed) on its next request.
   */
  protected screenRequest(head: RequestHead): Verdict | undefined {
    const fw = this.firewall!;
    const now = coarseNow();
    if (this.fwEpoch >= 0 && this.fwEpoch !== fw.epoch) {
      this.fwEpoch = fw.epoch;
      const v = fw.banCheck(this.clientIp, now);
      if (v) {
        this.fwClient = this.clientIp;
        return v;
      }
    }
    this.fwClient = fw.clientOf(this.clientIp, head.xForwardedFor);
    return fw.onRequest(this.fwClient, this.fwClient !== this.clientIp, now);
  }

  /** A request head that failed to parse (either protocol): its status and a metric reason; anything else is rethrown. */
  protected refuseHead(err: unknown): void {
    if (!(err instanceof HeadError)) throw err;
    const reason = err.status === 431 ? 'too-many-headers' : err.status === 414 ? 'url-too-long' : 'bad-request';
    this.refuse(err.status === 502 ? 400 : err.status, err.message, reason);
  }

  /** The edge firewall said no: its status, with Retry-After when it says when to come back. */
  protected refuseVerdict(v: Verdict, close = true): void {
    this.refuse(v.status, v.message, v.reason, close, v.retryAfterS === undefined ? '' : `retry-after: ${v.retryAfterS}\r\n`);
  }

  /**
   * The last screened request's client was named by a trusted proxy: its refusal is not the
   * connection's (the proxy carries other clients' requests on it).
   */
  protected get clientNamedByProxy(): boolean {
    return this.fwClient !== '' && this.fwClient !== this.clientIp;
  }

  protected refuse(status: number, message: string, reason: string, close = true, extra = ''): void {
    this.shared.metrics.refusal(this.frontendName, reason);
    const client = this.fwClient || this.clientIp;
    this.shared.sampledWarn(reason, { client, status, reason: message }, 'request refused');
    if (this.firewall?.onRefused(client, status, coarseNow())) {
      this.shared.metrics.refusal(this.frontendName, 'ban');
      this.shared.log.warn({ frontend: this.frontendName, client, reason }, `edge firewall: ${client} banned after repeated refusals (last: ${reason})`);
    }
    this.req = Req.Done;
    if (!this.requestId) this.requestId = this.shared.nextRequestId();
    this.respondError(status, message, reason, close, extra);
  }

  protected logExchange(status: number, termination: string | undefined): void {
    const seconds = (performance.now() - this.started) / 1000;
    const backend = this.backend?.spec.name ?? '-';
    const server = this.server?.name;
    this.shared.metrics.request(this.frontendName, backend, server ?? '-', status, seconds);
    const log = this.shared.accessLog;
    if (log) {
      const head = this.head;
      log.write({
        time: new Date().toISOString(), frontend: this.frontendName, client: this.clientIp,
        method: head?.method ?? '-', path: head?.target ?? '-', host: head?.host, status, bytes: this.sentBytes,
        durationMs: Math.round(seconds * 1e6) / 1e3, backend: this.backend?.spec.name, server,
        retries: this.attempts, requestId: this.requestId, ...(termination ? { termination } : {}),
      });
    }
    this.server = undefined;
    this.backend = status === 101 ? this.backend : undefined;
  }

  // ── Time ───────────────────────────────────────────────────────────────────────────────────
  protected setDeadline(kind: Deadline, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = kind === Deadline.None ? 0 : coarseNow() + ms;
  }

  /** Called by the shared tick when `deadline` has passed. */
  expire(now: number): void {
    switch (this.deadlineKind) {
      case Deadline.Head:
        return this.refuse(408, 'request head not received in time', 'slow-request');
      case Deadline.Queue:
        this.backend?.dequeue(this);
        return this.refuse(503, `no server slot within queue timeout of backend ${this.backend?.spec.name}`, 'queue-timeout');
      case Deadline.Connect:
        if (this.upstream?.connected) {
          this.deadlineKind = Deadline.Response;
          this.deadline = this.connectStarted + this.backend!.spec.timeouts.responseHeaderMs;
          if (this.deadline <= now) this.expire(now);
          return;
        }
        if (now < this.connectStarted + this.backend!.spec.timeouts.connectMs) {
          // response_header is shorter than connect: look again next tick, until connected or connect expires.
          this.deadline = Math.min(this.connectStarted + this.backend!.spec.timeouts.connectMs, now + TICK_MS);
          return;
        }
        this.upstreamTimedOut = true;
        this.upstream?.socket.destroy(); // onUpstreamEnd retries or answers 503
        return;
      case Deadline.Response:
        if (this.req === Req.Body) {
          // Still sending the request body: measure silence, not total time.
          this.setDeadline(Deadline.Idle, this.backend!.spec.timeouts.idleMs);
          return;
        }
        if (this.server) this.recordFailure(this.server, 'response timeout');
        return this.upstreamFailed('server did not answer within response_header timeout', 504, 'response-timeout');
      case Deadline.Idle:
        return this.abortExchange('no data within idle timeout', 504);
      default:
        this.deadline = 0;
    }
  }
}
