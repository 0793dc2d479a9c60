/**
 * One HTTP/1.x client connection of an HTTP frontend: reads request heads (and PROXY headers),
 * screens and routes each request, hands it to the exchange logic it inherits (server selection,
 * retries, timeouts, logging: exchange.ts), and streams both bodies without copying them.
 * Pipelined requests wait in `pending`; an Upgrade that the server accepts becomes a tunnel.
 *
 *   head ──▶ screen ──▶ route ──▶ exchange (exchange.ts) ──▶ response head + body ──▶ next head
 *    │408/431/400  │403/429  │404/308
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { isIdempotent, keptFields, parseRequestHead, type RequestHead, type ResponseHead } from '../http1/head.js';
import { BodyFramer, requestFraming } from '../http1/framing.js';
import { ACME_CHALLENGE, cannedResponse, httpsLocation } from '../http1/canned.js';
import { challengeResponse } from '../tls/index.js';
import type { UpstreamConn } from '../edge/upstream.js';
import { coarseNow } from '../../core/coarse-tick.js';
import { readInto } from '../listener/read-buffer.js';
import { normalizeIp } from '../../core/cidr.js';
import type { HttpProxyShared } from './shared.js';
import type { Verdict } from '../edge-firewall/index.js';
import { parseProxyHeader, type ProxyHeader } from '../proxy-protocol/index.js';
import { CRLFCRLF, Deadline, Exchange, Req, Res } from './exchange.js';

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

export class Http1Connection extends Exchange {
  private pending: Buffer | undefined;
  private paused = false;
  private readonly reqFramer = new BodyFramer();

  /** The verdict of the edge firewall at accept (refused at the first request). */
  private acceptVerdict: Verdict | undefined;
  private countedByFirewall = false;
  /** proxy_protocol: the PROXY header has not been read yet. */
  private awaitingProxyHeader = false;

  constructor(private readonly socket: net.Socket, shared: HttpProxyShared) {
    const fe = shared.current();
    super(shared, normalizeIp(socket.remoteAddress ?? ''), fe);
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
      return this.refuseHead(err);
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
      if (v) {
        // A trusted proxy's connection stays for its other clients when no body is left to skip.
        const keep = this.clientNamedByProxy && !(head.chunked || head.contentLength > 0);
        if (keep) this.pending = rest;
        return this.refuseVerdict(v, !keep);
      }
    }
    if (head.contentLength > fe.spec.limits.maxBodyBytes) {
      return this.refuse(413, `request body larger than max_body_bytes (${fe.spec.limits.maxBodyBytes})`, 'body-too-large');
    }
    this.closeAfter = head.connectionClose || (head.minor === 0 && !head.connectionKeepAlive) || this.shared.closing;
    const keyAuthorization = head.method === 'GET' ? fe.challenges?.answer(head.target) : undefined;
    if (keyAuthorization !== undefined) return this.answerChallenge(head, keyAuthorization, rest);
    if (fe.httpsRedirectPort !== undefined && !head.target.startsWith(ACME_CHALLENGE)) return this.redirectToHttps(head, fe.httpsRedirectPort, rest);
    const backend = fe.router.match(head.host, head.target);
    if (!backend) {
      // The connection stays only when there is no body to skip; what follows is the next request.
      const hasBody = head.chunked || head.contentLength > 0;
      if (!hasBody) this.pending = rest;
      return this.refuse(404, `no route for ${head.host ?? ''}${head.target.slice(0, 200)}`, 'no-route', hasBody);
    }
    this.begin(backend);
    const framing = requestFraming(head.chunked, head.contentLength);
    this.reqFramer.reset(framing.kind, framing.length);
    this.req = this.reqFramer.done ? Req.Done : Req.Body;

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
    // Expect: 100-continue is the server's to answer; sendInterim passes its 100 along.
    this.dispatch(undefined);
  }

  protected onAttached(): void {
    if (this.req !== Req.Body) return;
    this.resume();
    if (this.pending) {
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

  // ── Response ───────────────────────────────────────────────────────────────────────────────
  protected sendInterim(res: ResponseHead): void {
    if (this.head!.minor === 1) this.socket.write(this.buildResponseHead(res, false), 'latin1');
  }

  protected startResponse(res: ResponseHead, buf: Buffer, bodyStart: number): void {
    const out = this.buildResponseHead(res, this.closeAfter);
    if (this.resFramer.done) {
      this.socket.write(out, 'latin1');
      if (bodyStart < buf.length) this.closeUpstreamAfter = true; // bytes after a bodiless response
      return this.finishExchange();
    }
    this.forwardResponseBody(buf, bodyStart, out);
  }

  private buildResponseHead(res: ResponseHead, close: boolean): string {
    let out = 'HTTP/1.1 ' + res.status + ' ' + res.reason + '\r\n' + keptFields(res) + this.shared.current().responseHeaders;
    if (this.stickyCookie !== undefined && res.status >= 200) {
      out += 'set-cookie: ' + this.backend!.spec.balance.cookie + '=' + this.stickyCookie + '; Path=/; HttpOnly; SameSite=Lax\r\n';
    }
    if (close) out += 'connection: close\r\n';
    return out + '\r\n';
  }

  /** `head`: the response head, sent in the same write as the body bytes that came with it. */
  protected forwardResponseBody(buf: Buffer, start: number, head?: string): void {
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

  protected startTunnel(res: ResponseHead, rest: Buffer): void {
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

  protected tunnelToClient(conn: UpstreamConn, data: Buffer): void {
    this.socket.write(data);
    if (this.socket.writableLength !== 0) conn.keep();
  }

  protected tunnelEnded(): void {
    this.socket.end();
  }

  protected exchangeDone(): void {
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

  protected abortClient(): void {
    this.destroy();
  }

  // ── Refusals decided by the edge before contacting any server ─────────────────────────────
  /** Plain HTTP where HTTPS is served: 308 to the same host and path on the HTTPS port. */
  private redirectToHttps(head: RequestHead, port: number, rest: Buffer | undefined): void {
    const hasBody = head.chunked || head.contentLength > 0;
    if (!hasBody) this.pending = rest;
    this.req = Req.Done;
    if (!this.requestId) this.requestId = this.shared.nextRequestId();
    const location = httpsLocation(head.host, this.socket.localAddress ?? 'localhost', port, head.target);
    this.respondError(308, `served over HTTPS: ${location}`, 'redirect', hasBody, `location: ${location}\r\n`);
  }

  /** An ACME server asking for a token the control plane gave us: answered here, never proxied. */
  private answerChallenge(head: RequestHead, keyAuthorization: string, rest: Buffer | undefined): void {
    const hasBody = head.chunked || head.contentLength > 0;
    if (!hasBody) this.pending = rest;
    this.req = Req.Done;
    if (!this.requestId) this.requestId = this.shared.nextRequestId();
    this.respondError(200, '', 'acme-challenge', hasBody, '', keyAuthorization);
  }

  /** The edge firewall's accept-time checks, for clientIp. */
  private admit(): void {
    if (!this.firewall) return;
    const trusted = this.firewall.isTrusted(this.clientIp);
    // A trusted proxy's clients are screened on every request anyway (by the address it names).
    if (!trusted) this.fwEpoch = this.firewall.epoch;
    this.acceptVerdict = this.firewall.onAccept(this.clientIp, coarseNow(), trusted);
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

  /** `challenge`: answer 200 with this ACME key authorization instead of an error body. */
  protected respondError(status: number, message: string, termination: string, close = true, extra = '', challenge?: string): void {
    // Keep the connection only when the request was fully read and nothing else is ambiguous.
    const keep = !close && this.req === Req.Done && !this.closeAfter;
    this.socket.write(challenge !== undefined ? challengeResponse(challenge, this.requestId, !keep)
      : cannedResponse(status, message, this.requestId, !keep, extra + this.shared.current().responseHeaders), 'latin1');
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

  private onClientClose(): void {
    if (this.countedByFirewall) {
      this.countedByFirewall = false;
      this.firewall!.onClose(this.clientIp);
    }
    if (this.closed && !this.upstream && !this.queued) {
      this.shared.forget(this);
      return;
    }
    this.abandonExchange();
    this.shared.forget(this);
  }

  // ── Time ───────────────────────────────────────────────────────────────────────────────────
  override expire(now: number): void {
    if (this.deadlineKind !== Deadline.KeepAlive) return super.expire(now);
    this.setDeadline(Deadline.None, 0);
    this.closed = true;
    this.socket.end();
  }

  // ── Flow control and shutdown ──────────────────────────────────────────────────────────────
  protected resumeClient(): void {
    this.resume();
  }

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

  /** No exchange in flight and no pipelined bytes waiting. */
  private get betweenRequests(): boolean {
    return this.res === Res.None && this.req === Req.Head && !this.pending;
  }

  /** Graceful: close now if idle between requests, else after the current exchange. */
  shutdown(): void {
    if (this.betweenRequests) {
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

  /**
   * A tunnel (WebSocket) ends now and an idle keep-alive connection closes. One in the middle of
   * an exchange finishes it (the refusal that made the ban is being answered on it) and gets 403
   * at its next request (the ban epoch).
   */
  cutIfBanned(ip: string): boolean {
    if (this.fwEpoch < 0 || this.clientIp !== ip || this.closed) return false;
    // Not while a head is being refused: that refusal may be the one that made the ban.
    const idle = this.betweenRequests && this.head === undefined;
    if (this.res !== Res.Tunnel && !idle) return false;
    this.destroy();
    return true;
  }
}

/** An LF not preceded by CR from `start` on (the CR of a split CRLF is always before its LF). */
function hasBareLf(buf: Buffer, start: number): boolean {
  for (let i = buf.indexOf(10, start); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i === start || buf[i - 1] !== 13) return true;
  }
  return false;
}
