/**
 * One client connection of an HTTP frontend: reads request heads, forwards each exchange to a
 * server over a pooled keep-alive connection, and streams both bodies without copying them.
 * The request path is drawn in docs/request-path.md; every failure below ends as a status code,
 * an access-log line and a metric, never as an exception out of the event loop.
 *
 *   head ──▶ route ──▶ select server ──▶ (queue) ──▶ send ──▶ response head ──▶ body ──▶ done
 *    │408/431/400  │404        │503           │503 timeout  │retry/502/503  │504        │abort
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { HeadError, isIdempotent, keptFields, parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from '../http1/head.js';
import { BodyFramer, requestFraming, responseFraming } from '../http1/framing.js';
import { ACME_CHALLENGE, cannedResponse, httpsLocation } from '../http1/canned.js';
import { FULL, type BackendRuntime, type QueueWaiter } from '../edge/backend.js';
import type { UpstreamConn, UpstreamOwner, UpstreamServer } from '../edge/upstream.js';
import { stickyValue, type PickContext } from '../balancer/index.js';
import { TICK_MS, coarseNow } from '../../core/coarse-tick.js';
import { readInto } from '../listener/read-buffer.js';
import { normalizeIp } from '../../core/cidr.js';
import type { HttpProxyShared } from './shared.js';
import type { EdgeFirewall, Verdict } from '../edge-firewall/index.js';
import { parseProxyHeader, type ProxyHeader } from '../proxy-protocol/index.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Request bodies up to this size that arrived with the head are kept to replay on a retry. */
const REPLAYABLE_BODY = 64 * 1024;
/** Body bytes (arrived with the response head) up to this size are copied to go out with the head in one write. */
const JOIN_BODY = 16 * 1024;
/** Pipelined bytes buffered before we stop reading from the client. */
const PIPELINE_HIGH_WATER = 256 * 1024;

/**
 * One read buffer for every client connection (see readInto): a read is handled before the next
 * one, and nothing may refer to these bytes afterwards. What is kept (pending bytes, a body to
 * replay, bytes handed to a socket write that may not finish at once) goes through detach().
 */
const CLIENT_READ = Buffer.allocUnsafeSlow(64 * 1024);

/** `buf` itself, or a copy when it is a view of the shared client read buffer. */
function detach(buf: Buffer): Buffer {
  return buf.buffer === CLIENT_READ.buffer ? Buffer.from(buf) : buf;
}

const enum Req { Head, Body, Done }
const enum Res { None, Head, Body, Tunnel }
const enum Deadline { None, KeepAlive, Head, Queue, Connect, Response, Idle }

export class ClientConnection implements UpstreamOwner, PickContext, QueueWaiter {
  /** The peer, or with the PROXY protocol the client its header names. */
  clientIp: string;
  private req = Req.Head;
  private res = Res.None;
  private pending: Buffer | undefined;
  private closed = false;
  private paused = false;
  deadline = 0;
  private deadlineKind = Deadline.None;

  // The exchange in progress.
  private head: RequestHead | undefined;
  private backend: BackendRuntime | undefined;
  private server: UpstreamServer | undefined;
  private upstream: UpstreamConn | undefined;
  private holdsSlot = false;
  private outHead = '';
  private replay: Buffer | undefined;
  private retryable = false;
  private attempts = 0;
  private requestId = '';
  private started = 0;
  private connectStarted = 0;
  private responseStarted = false;
  private resHeadBuf: Buffer | undefined;
  private resHead: ResponseHead | undefined;
  private closeAfter = false;
  private stickyCookie: string | undefined;
  private readonly reqFramer = new BodyFramer();
  private readonly resFramer = new BodyFramer();
  private sentBytes = 0;
  queued = false;
  private upstreamTimedOut = false;
  private frontendName: string;

  /** The edge firewall this connection was admitted by, and its verdict at accept (refused at the first request). */
  private readonly firewall: EdgeFirewall | undefined;
  private acceptVerdict: Verdict | undefined;
  private countedByFirewall = false;
  /** proxy_protocol: the PROXY header has not been read yet. */
  private awaitingProxyHeader = false;

  /** Who the firewall judges for the current request (the peer, or the client a trusted proxy names). */
  private fwClient = '';

  constructor(private readonly socket: net.Socket, private readonly shared: HttpProxyShared) {
    const fe = shared.current();
    this.clientIp = normalizeIp(socket.remoteAddress ?? '');
    this.frontendName = fe.name;
    this.firewall = fe.firewall;
    if (fe.spec.proxyProtocol) {
      // The firewall judges the client the header names, once it has arrived.
      this.awaitingProxyHeader = true;
      if (!this.firewall?.isTrusted(this.clientIp)) {
        this.acceptVerdict = { status: 403, reason: 'untrusted-proxy', message: `${this.clientIp} is not a trusted proxy (this frontend expects the PROXY protocol)` };
      }
    } else this.admit();
    socket.setNoDelay(true);
    // TLS sockets deliver decrypted bytes through their stream: no onread there.
    const encrypted = (socket as { encrypted?: boolean }).encrypted === true;
    if (encrypted || !readInto(socket, CLIENT_READ, (n) => this.onClientRead(n))) socket.on('data', (chunk: Buffer) => this.onClientData(chunk));
    socket.on('drain', () => this.upstream?.socket.resume());
    socket.on('error', () => {});
    socket.on('close', () => this.onClientClose());
    socket.on('end', () => {
      // A half-closed client still gets its response; with nothing in flight we are done.
      if (this.res === Res.None && this.req === Req.Head) socket.end();
    });
    this.setDeadline(Deadline.KeepAlive, fe.spec.timeouts.requestHeaderMs);
  }

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

  // ── Client side ────────────────────────────────────────────────────────────────────────────
  /** `n` bytes were read into CLIENT_READ: handle them, then keep nothing that points there. */
  private onClientRead(n: number): boolean {
    this.onClientData(CLIENT_READ.subarray(0, n));
    if (this.pending !== undefined) this.pending = detach(this.pending);
    return true;
  }

  private onClientData(chunk: Buffer): void {
    if (this.res === Res.Tunnel) {
      this.upstream?.socket.write(detach(chunk));
      return;
    }
    if (this.req === Req.Body && this.upstream) {
      this.forwardRequestBody(chunk);
      return;
    }
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.awaitingProxyHeader) {
      if (this.acceptVerdict) return this.refuseVerdict(this.acceptVerdict); // not a trusted proxy
      if (!this.readProxyHeader()) return;
    }
    if (this.req === Req.Head && this.res === Res.None && !this.queued) {
      this.tryParseHead();
    } else if (this.pending.length > PIPELINE_HIGH_WATER) {
      this.pause();
    }
  }

  private tryParseHead(): void {
    const buf = this.pending;
    if (!buf || buf.length === 0) return;
    // Refused at accept (denied, banned, too many connections): answer as soon as it speaks.
    if (this.acceptVerdict) return this.refuseVerdict(this.acceptVerdict);
    // RFC 9112 §2.2: ignore empty lines before a request line.
    let start = 0;
    while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
    const end = buf.indexOf(CRLFCRLF, start);
    const fe = this.shared.current();
    const maxHead = fe.spec.limits.maxHeaderBytes;
    if (end < 0) {
      if (buf.length - start > maxHead) return this.refuse(431, 'request head larger than max_header_bytes', 'header-too-large');
      // A head with bare-LF line endings never contains CRLFCRLF: refuse it now, not by timeout.
      if (hasBareLf(buf, start)) return this.refuse(400, 'bare LF in message head', 'bad-request');
      if (this.deadlineKind === Deadline.KeepAlive) this.setDeadline(Deadline.Head, fe.spec.timeouts.requestHeaderMs);
      return;
    }
    if (end - start > maxHead) return this.refuse(431, 'request head larger than max_header_bytes', 'header-too-large');
    this.frontendName = fe.name;
    this.started = performance.now();
    this.requestId = '';
    let head: RequestHead;
    try {
      head = parseRequestHead(buf.toString('latin1', start, end), fe.spec.limits);
    } catch (err) {
      if (err instanceof HeadError) {
        const reason = err.status === 431 ? 'too-many-headers' : err.status === 414 ? 'url-too-long' : 'bad-request';
        return this.refuse(err.status === 502 ? 400 : err.status, err.message, reason);
      }
      throw err;
    }
    this.head = head;
    this.requestId = head.requestId ?? this.shared.nextRequestId();
    const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
    this.pending = undefined;
    this.startExchange(head, rest);
  }

  private startExchange(head: RequestHead, rest: Buffer | undefined): void {
    const fe = this.shared.current();
    if (this.firewall) {
      const v = this.screenRequest(head);
      if (v) return this.refuseVerdict(v);
    }
    if (head.contentLength > fe.spec.limits.maxBodyBytes) {
      return this.refuse(413, `request body larger than max_body_bytes (${fe.spec.limits.maxBodyBytes})`, 'body-too-large');
    }
    this.closeAfter = head.connectionClose || (head.minor === 0 && !head.connectionKeepAlive) || this.shared.closing;
    if (fe.httpsRedirectPort !== undefined && !head.target.startsWith(ACME_CHALLENGE)) return this.redirectToHttps(head, fe.httpsRedirectPort, rest);
    const backend = fe.router.match(head.host, head.target);
    if (!backend) {
      // The connection stays only when there is no body to skip; what follows is the next request.
      const hasBody = head.chunked || head.contentLength > 0;
      if (!hasBody) this.pending = rest;
      return this.refuse(404, `no route for ${head.host ?? ''}${head.target.slice(0, 200)}`, 'no-route', hasBody);
    }
    this.backend = backend;
    this.attempts = 0;
    this.responseStarted = false;
    this.sentBytes = 0;
    this.stickyCookie = undefined;
    this.upstreamTimedOut = false;
    const framing = requestFraming(head.chunked, head.contentLength);
    this.reqFramer.reset(framing.kind, framing.length);
    this.req = this.reqFramer.done ? Req.Done : Req.Body;
    backend.budget.recordRequest(coarseNow());

    // Body bytes that came with the head; anything after the body is the next pipelined request.
    let body: Buffer | undefined;
    if (rest && this.req === Req.Body) {
      let bodyEnd: number;
      try {
        bodyEnd = this.reqFramer.consume(rest, 0);
      } catch (err) {
        return this.refuse(400, `malformed chunked body: ${(err as Error).message}`, 'bad-body');
      }
      if (this.reqFramer.bytes > fe.spec.limits.maxBodyBytes) {
        return this.refuse(413, `request body larger than max_body_bytes (${fe.spec.limits.maxBodyBytes})`, 'body-too-large');
      }
      if (bodyEnd < 0) {
        body = rest;
      } else {
        body = rest.subarray(0, bodyEnd);
        if (bodyEnd < rest.length) this.pending = rest.subarray(bodyEnd);
        this.req = Req.Done;
      }
    } else if (rest) {
      this.pending = rest;
    }
    this.retryable = isIdempotent(head.method) && this.req === Req.Done && (body?.length ?? 0) <= REPLAYABLE_BODY;
    this.replay = body === undefined ? undefined : detach(body);
    this.outHead = this.buildRequestHead(head, fe.proto);
    if (head.expectContinue && this.req === Req.Body) {
      // The server decides on 100-continue; we only pass it along.
    }
    this.dispatch(undefined);
  }

  private buildRequestHead(head: RequestHead, proto: string): string {
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
  private dispatch(avoid: UpstreamServer | undefined): void {
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
    if (this.replay && this.replay.length > 0) {
      sock.write(this.outHead, 'latin1');
      sock.write(this.replay);
    } else {
      sock.write(this.outHead, 'latin1');
    }
    if (this.req === Req.Body) {
      this.resume();
    }
    if (this.pending && this.req === Req.Body) {
      // Body bytes that arrived while we were queued.
      const p = this.pending;
      this.pending = undefined;
      this.forwardRequestBody(p);
    }
  }

  private forwardRequestBody(chunk: Buffer): void {
    const up = this.upstream!;
    let end: number;
    try {
      end = this.reqFramer.consume(chunk, 0);
    } catch (err) {
      return this.abortExchange(`malformed chunked body: ${(err as Error).message}`, 400);
    }
    if (this.reqFramer.bytes > this.shared.current().spec.limits.maxBodyBytes) {
      return this.abortExchange('request body larger than max_body_bytes', 413);
    }
    let ok: boolean;
    if (end < 0) {
      ok = up.socket.write(detach(chunk));
    } else {
      ok = up.socket.write(detach(end === chunk.length ? chunk : chunk.subarray(0, end)));
      if (end < chunk.length) this.pending = chunk.subarray(end);
      this.req = Req.Done;
    }
    if (!ok) this.pause();
    if (this.res === Res.Head && this.deadlineKind === Deadline.Idle) {
      this.setDeadline(Deadline.Response, this.backend!.spec.timeouts.responseHeaderMs);
    }
  }

  // ── Upstream side (UpstreamOwner) ──────────────────────────────────────────────────────────
  onUpstreamDrain(): void {
    this.resume();
  }

  onUpstreamData(conn: UpstreamConn, data: Buffer): void {
    if (conn !== this.upstream) return;
    // `data` is the connection's read buffer: whatever still refers to it after this call (a
    // write node could not finish at once, a partial head) is copied or the buffer is kept.
    if (this.res === Res.Tunnel) {
      this.socket.write(data);
      if (this.socket.writableLength !== 0) conn.keep();
      return;
    }
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
      if (head.minor === 1) this.socket.write(this.buildResponseHead(res, false), 'latin1');
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) this.onUpstreamData(conn, rest);
      return;
    }
    this.resHead = res;
    const framing = responseFraming(head.method, res.status, res.chunked, res.contentLength);
    this.resFramer.reset(framing.kind, framing.length);
    if (framing.kind === 'close' || res.connectionClose || res.minor === 0) this.closeUpstreamAfter = true;
    else this.closeUpstreamAfter = false;
    if (framing.kind === 'close') this.closeAfter = true;
    this.responseStarted = true;
    this.res = Res.Body;
    this.setDeadline(Deadline.Idle, this.backend!.spec.timeouts.idleMs);
    const out = this.buildResponseHead(res, this.closeAfter);
    if (this.resFramer.done) {
      this.socket.write(out, 'latin1');
      if (end + 4 < buf.length) this.closeUpstreamAfter = true; // bytes after a bodiless response
      return this.finishExchange();
    }
    this.forwardResponseBody(buf, end + 4, out);
  }
  private closeUpstreamAfter = false;

  private buildResponseHead(res: ResponseHead, close: boolean): string {
    let out = 'HTTP/1.1 ' + res.status + ' ' + res.reason + '\r\n' + keptFields(res) + this.shared.current().responseHeaders;
    if (this.stickyCookie !== undefined && res.status >= 200) {
      out += 'set-cookie: ' + this.backend!.spec.balance.cookie + '=' + this.stickyCookie + '; Path=/; HttpOnly; SameSite=Lax\r\n';
    }
    if (close) out += 'connection: close\r\n';
    return out + '\r\n';
  }

  /** `head`: the response head, sent in the same write as the body bytes that came with it. */
  private forwardResponseBody(buf: Buffer, start: number, head?: string): void {
    let end: number;
    try {
      end = this.resFramer.consume(buf, start);
    } catch (err) {
      return this.abortExchange(`malformed response body: ${(err as Error).message}`, 502);
    }
    const slice = end < 0 ? (start === 0 ? buf : buf.subarray(start)) : buf.subarray(start, end);
    this.sentBytes += slice.length;
    const conn = this.upstream;
    let ok: boolean;
    let direct = false; // `slice` itself (a view of the read buffer) was written
    if (head === undefined) {
      direct = slice.length !== 0;
      ok = !direct || this.socket.write(slice);
    } else if (slice.length === 0) {
      this.socket.write(head, 'latin1');
      ok = true;
    } else if (slice.length <= JOIN_BODY) {
      // One buffer, one write: cheaper than cork + two writes (a writev) for a small response.
      const joined = Buffer.allocUnsafe(head.length + slice.length);
      joined.write(head, 0, 'latin1');
      slice.copy(joined, head.length);
      ok = this.socket.write(joined);
    } else {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      ok = this.socket.write(slice);
      this.socket.uncork();
      direct = true;
    }
    if (direct && conn !== undefined && this.socket.writableLength !== 0) conn.keep();
    if (end >= 0) {
      if (end < buf.length) this.closeUpstreamAfter = true; // more bytes than the framing allows
      return this.finishExchange();
    }
    this.deadline = coarseNow() + this.backend!.spec.timeouts.idleMs;
    if (!ok) this.upstream?.socket.pause();
  }

  private startTunnel(res: ResponseHead, rest: Buffer): void {
    this.res = Res.Tunnel;
    this.resHead = res;
    this.responseStarted = true;
    this.setDeadline(Deadline.None, 0);
    this.releaseSlot();
    let out = 'HTTP/1.1 101 ' + res.reason + '\r\n' + keptFields(res) + 'connection: upgrade\r\n';
    if (res.upgrade !== undefined) out += 'upgrade: ' + res.upgrade + '\r\n';
    this.socket.write(out + '\r\n', 'latin1');
    if (rest.length > 0) {
      this.socket.write(rest);
      if (this.socket.writableLength !== 0) this.upstream!.keep();
    }
    if (this.pending) {
      this.upstream!.socket.write(this.pending);
      this.pending = undefined;
    }
    this.logExchange(101, undefined);
    this.resume();
  }

  onUpstreamEnd(conn: UpstreamConn, err: Error | undefined): void {
    if (conn !== this.upstream) return;
    this.upstream = undefined;
    if (this.res === Res.Tunnel) {
      this.socket.end();
      return;
    }
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

  private recordFailure(server: UpstreamServer, reason: string): void {
    if (server.passive.failure(reason)) {
      this.shared.metrics.ejection(server.backendName, server.name);
      this.shared.onEjected(server, reason);
    }
  }

  // ── Completion and failure ─────────────────────────────────────────────────────────────────
  private finishExchange(): void {
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
    if (this.req !== Req.Done || this.closeAfter) {
      this.socket.end();
      this.closed = true;
      return;
    }
    this.req = Req.Head;
    this.setDeadline(Deadline.KeepAlive, this.shared.current().spec.timeouts.keepAliveMs);
    this.resume();
    if (this.pending) this.tryParseHead();
  }

  private releaseSlot(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    const server = this.server!;
    server.active--;
    this.backend!.kickQueue();
  }

  /** The server failed before any response byte reached the client. */
  private upstreamFailed(message: string, status: number, termination: string, alreadyClosed = false): void {
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

  /** Something broke mid-exchange: answer if nothing was sent yet, else cut the connection. */
  private abortExchange(message: string, status: number): void {
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
    this.destroy();
  }

  /** Refusals decided by the edge before contacting any server. */
  /** Plain HTTP where HTTPS is served: 308 to the same host and path on the HTTPS port. */
  private redirectToHttps(head: RequestHead, port: number, rest: Buffer | undefined): void {
    const hasBody = head.chunked || head.contentLength > 0;
    if (!hasBody) this.pending = rest;
    this.req = Req.Done;
    if (!this.requestId) this.requestId = this.shared.nextRequestId();
    const location = httpsLocation(head.host, this.socket.localAddress ?? 'localhost', port, head.target);
    this.respondError(308, `served over HTTPS: ${location}`, 'redirect', hasBody, `location: ${location}\r\n`);
  }

  /** The edge firewall's accept-time checks, for clientIp. */
  private admit(): void {
    if (!this.firewall) return;
    this.acceptVerdict = this.firewall.onAccept(this.clientIp, coarseNow());
    this.countedByFirewall = this.acceptVerdict === undefined;
  }

  /** Strip the PROXY header from `pending` once it is whole; false while more bytes are needed or after a refusal. */
  private readProxyHeader(): boolean {
    let h: ProxyHeader | undefined;
    try {
      h = parseProxyHeader(this.pending!);
    } catch (err) {
      this.awaitingProxyHeader = false;
      this.refuse(400, (err as Error).message, 'bad-proxy-header');
      return false;
    }
    if (!h) return false;
    this.awaitingProxyHeader = false;
    if (h.source) this.clientIp = normalizeIp(h.source.address);
    this.pending = this.pending!.length > h.length ? this.pending!.subarray(h.length) : undefined;
    this.admit();
    if (!this.acceptVerdict) return true;
    this.refuseVerdict(this.acceptVerdict);
    return false;
  }

  /** Lists and bans for a client behind a trusted proxy, then the rate limit. */
  private screenRequest(head: RequestHead): Verdict | undefined {
    const fw = this.firewall!;
    this.fwClient = fw.clientOf(this.clientIp, head.xForwardedFor);
    return fw.onRequest(this.fwClient, this.fwClient !== this.clientIp, coarseNow());
  }

  /** The edge firewall said no: its status, with Retry-After when it says when to come back. */
  private refuseVerdict(v: Verdict): void {
    this.refuse(v.status, v.message, v.reason, true, v.retryAfterS === undefined ? '' : `retry-after: ${v.retryAfterS}\r\n`);
  }

  private refuse(status: number, message: string, reason: string, close = true, extra = ''): void {
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

  private respondError(status: number, message: string, termination: string, close = true, extra = ''): void {
    // Keep the connection only when the request was fully read and nothing else is ambiguous.
    const keep = !close && this.req === Req.Done && !this.closeAfter;
    this.socket.write(cannedResponse(status, message, this.requestId, !keep, extra + this.shared.current().responseHeaders), 'latin1');
    this.logExchange(status, termination);
    this.head = undefined;
    if (!keep) {
      this.closed = true;
      this.socket.end();
      this.setDeadline(Deadline.None, 0);
      return;
    }
    this.req = Req.Head;
    this.setDeadline(Deadline.KeepAlive, this.shared.current().spec.timeouts.keepAliveMs);
    if (this.pending) this.tryParseHead();
  }

  private logExchange(status: number, termination: string | undefined): void {
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

  private onClientClose(): void {
    if (this.countedByFirewall) {
      this.countedByFirewall = false;
      this.firewall!.onClose(this.clientIp);
    }
    if (this.closed && !this.upstream && !this.queued) {
      this.shared.forget(this);
      return;
    }
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
    this.shared.forget(this);
  }

  // ── Time ───────────────────────────────────────────────────────────────────────────────────
  private setDeadline(kind: Deadline, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = kind === Deadline.None ? 0 : coarseNow() + ms;
  }

  /** Called by the shared tick when `deadline` has passed. */
  expire(now: number): void {
    switch (this.deadlineKind) {
      case Deadline.KeepAlive:
        this.setDeadline(Deadline.None, 0);
        this.closed = true;
        this.socket.end();
        return;
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

  // ── Flow control and shutdown ──────────────────────────────────────────────────────────────
  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Graceful: close now if idle between requests, else after the current exchange. */
  shutdown(): void {
    if (this.res === Res.None && this.req === Req.Head && !this.pending) {
      this.closed = true;
      this.socket.end();
    } else {
      this.closeAfter = true;
    }
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** An LF not preceded by CR from `start` on (the CR of a split CRLF is always before its LF). */
function hasBareLf(buf: Buffer, start: number): boolean {
  for (let i = buf.indexOf(10, start); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i === start || buf[i - 1] !== 13) return true;
  }
  return false;
}

