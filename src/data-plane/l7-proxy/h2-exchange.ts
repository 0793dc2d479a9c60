/**
 * One HTTP/2 stream of a client connection, proxied to an HTTP/1.1 server: its header list
 * becomes an HTTP/1 request head (http2/headers.ts), and from there it is the same exchange as an
 * HTTP/1 request (exchange.ts: firewall, route, balancer, queue, retries, timeouts, access log,
 * metrics). What differs is only the framing on the client side: DATA frames in (sent upstream
 * as they come, chunked when the length is unknown), a HEADERS frame and DATA frames out (a
 * chunked response is decoded). Flow control is HTTP/2's own: a stream we stop reading is a
 * window the client cannot send past.
 */
import http2, { type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { isIdempotent, type RequestHead, type ResponseHead } from '../http1/head.js';
import { cannedBody } from '../http1/canned.js';
import { cannedH2Headers, h2ResponseHeaders, headerPairs, requestHeadFromH2 } from '../http2/headers.js';
import type { UpstreamConn } from '../edge/upstream.js';
import { coarseNow } from '../../core/coarse-tick.js';
import type { Verdict } from '../edge-firewall/index.js';
import type { HttpFrontendRuntime, HttpProxyShared } from './shared.js';
import { Deadline, Exchange, Req, Res } from './exchange.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** A stream's 'error' is always followed by its 'close', which says all we need. */
function ignore(): void {}

/**
 * Response body runs up to this size are copied before a stream write (it holds the bytes until
 * they are framed and sent, and the upstream read buffer is reused by the next read); larger
 * ones keep the read buffer instead (the next read gets a fresh one).
 */
const COPY_BODY = 16 * 1024;

/** What an exchange needs from its connection. */
export interface H2Owner {
  streamClosed(ex: H2Exchange): void;
  /** Stop taking streams (GOAWAY) and close once the open ones are done. */
  shutdown(): void;
}

export class H2Exchange extends Exchange {
  /** The client has sent its whole request body (or had none). */
  private bodyEnded: boolean;
  private bodyBytes = 0;
  private reading = false;
  /** Answered (or cut off): the stream's close is no client abort. */
  private done = false;
  private backpressured = false;

  constructor(
    private readonly owner: H2Owner,
    private readonly stream: ServerHttp2Stream,
    shared: HttpProxyShared,
    clientIp: string,
    fe: HttpFrontendRuntime,
    /** The peer may name the client (trusted proxy): per-request screening follows X-Forwarded-For as on HTTP/1. */
    private readonly peerTrusted: boolean,
  ) {
    super(shared, clientIp, fe);
    this.bodyEnded = stream.endAfterHeaders;
    stream.on('error', ignore);
    stream.on('close', () => this.onStreamClose());
  }

  /** The stream's headers arrived: screen, route and send, like an HTTP/1 request head. */
  start(raw: readonly string[], acceptVerdict: Verdict | undefined): void {
    const fe = this.shared.current();
    this.frontendName = fe.name;
    this.started = performance.now();
    if (acceptVerdict) {
      // Refused at accept (denied, banned, too many connections): this stream is told, the connection closes.
      this.refuseVerdict(acceptVerdict);
      return this.owner.shutdown();
    }
    let head: RequestHead;
    try {
      head = requestHeadFromH2(raw, this.bodyEnded, fe.spec.limits);
    } catch (err) {
      return this.refuseHead(err);
    }
    this.head = head;
    this.requestId = head.requestId ?? this.shared.nextRequestId();
    if (this.firewall) {
      const v = this.screenRequest(head);
      if (v) {
        this.refuseVerdict(v);
        // Denied or banned: the client is not welcome on this connection either (unless the
        // connection is a trusted proxy's, carrying other clients' streams).
        if (v.status === 403 && !this.clientNamedByProxy) this.owner.shutdown();
        return;
      }
    }
    if (head.contentLength > fe.spec.limits.maxBodyBytes) {
      return this.refuse(413, `request body larger than max_body_bytes (${fe.spec.limits.maxBodyBytes})`, 'body-too-large');
    }
    const backend = fe.router.match(head.host, head.target);
    if (!backend) return this.refuse(404, `no route for ${head.host ?? ''}${head.target.slice(0, 200)}`, 'no-route');
    this.begin(backend);
    this.req = this.bodyEnded ? Req.Done : Req.Body;
    // Only a request without a body can be replayed: the body is streamed, not kept.
    this.retryable = this.req === Req.Done && isIdempotent(head.method);
    this.replay = undefined;
    this.outHead = this.buildRequestHead(head, fe.proto);
    this.dispatch(undefined);
  }

  /**
   * Lists and bans on every stream, not only at accept: an HTTP/2 connection carries on for many
   * requests, and a ban made after it opened must reach it. Then the rate limit.
   */
  protected override screenRequest(head: RequestHead): Verdict | undefined {
    const fw = this.firewall!;
    this.fwClient = fw.clientOf(this.clientIp, head.xForwardedFor);
    return fw.onRequest(this.fwClient, this.fwClient !== this.clientIp || !this.peerTrusted, coarseNow());
  }

  // ── Request body ───────────────────────────────────────────────────────────────────────────
  protected onAttached(): void {
    if (this.req !== Req.Body || this.reading) return;
    this.reading = true;
    this.stream.on('data', (chunk: Buffer) => this.onBodyData(chunk));
    this.stream.on('end', () => this.onBodyEnd());
  }

  private onBodyData(chunk: Buffer): void {
    const up = this.upstream;
    if (up === undefined || this.req !== Req.Body) return; // the exchange is over: the rest is not wanted
    const head = this.head!;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.shared.current().spec.limits.maxBodyBytes) {
      return this.abortExchange('request body larger than max_body_bytes', 413);
    }
    if (head.contentLength >= 0 && this.bodyBytes > head.contentLength) {
      return this.abortExchange('request body longer than its Content-Length', 400);
    }
    if (chunk.length === 0) return; // an empty chunk would end a chunked body
    let ok: boolean;
    if (head.chunked) {
      const s = up.socket;
      s.cork();
      s.write(chunk.length.toString(16) + '\r\n', 'latin1');
      s.write(chunk);
      ok = s.write('\r\n', 'latin1');
      s.uncork();
    } else {
      ok = up.socket.write(chunk);
    }
    if (!ok) this.stream.pause();
    if (this.res === Res.Head && this.deadlineKind === Deadline.Idle) {
      this.setDeadline(Deadline.Response, this.backend!.spec.timeouts.responseHeaderMs);
    }
  }

  private onBodyEnd(): void {
    this.bodyEnded = true;
    const up = this.upstream;
    if (up === undefined || this.req !== Req.Body) return;
    const head = this.head!;
    if (head.contentLength >= 0 && this.bodyBytes !== head.contentLength) {
      return this.abortExchange('request body shorter than its Content-Length', 400);
    }
    if (head.chunked) up.socket.write('0\r\n\r\n', 'latin1');
    this.req = Req.Done;
  }

  // ── Response ───────────────────────────────────────────────────────────────────────────────
  protected sendInterim(res: ResponseHead): void {
    if (res.status === 101 || this.stream.headersSent || this.stream.destroyed) return;
    try {
      this.stream.additionalHeaders(h2ResponseHeaders(res, []));
    } catch {
      // An interim response the client cannot get changes nothing: the final one follows.
    }
  }

  protected startResponse(res: ResponseHead, buf: Buffer, bodyStart: number): void {
    if (this.stream.destroyed) {
      // Reset by the client while the server answered ('close' has not been emitted yet).
      this.done = true;
      return this.abandonExchange();
    }
    const fe = this.shared.current();
    const extra = this.stickyCookie === undefined ? fe.responseHeaderList
      : [...fe.responseHeaderList, ['set-cookie', `${this.backend!.spec.balance.cookie}=${this.stickyCookie}; Path=/; HttpOnly; SameSite=Lax`] as const];
    const endStream = this.resFramer.done;
    if (this.resFramer.kind === 'chunked' && this.resFramer.onData === undefined) this.resFramer.onData = (b, from, to) => this.writeBody(b, from, to);
    try {
      this.stream.respond(h2ResponseHeaders(res, extra), { endStream });
    } catch (err) {
      // A head HTTP/2 cannot carry (or the stream is gone): nothing reached the client yet.
      this.responseStarted = false;
      return this.upstreamFailed(`response not valid over HTTP/2: ${(err as Error).message}`, 502, 'bad-response');
    }
    if (endStream) {
      if (bodyStart < buf.length) this.closeUpstreamAfter = true; // bytes after a bodiless response
      return this.finishExchange();
    }
    this.forwardResponseBody(buf, bodyStart);
  }

  protected forwardResponseBody(buf: Buffer, start: number): void {
    let end: number;
    try {
      // Chunked bodies reach writeBody through resFramer.onData, chunk by chunk.
      end = this.resFramer.consume(buf, start);
    } catch (err) {
      return this.abortExchange(`malformed response body: ${(err as Error).message}`, 502);
    }
    if (this.resFramer.kind !== 'chunked') this.writeBody(buf, start, end < 0 ? buf.length : end, end >= 0);
    if (end >= 0) {
      if (end < buf.length) this.closeUpstreamAfter = true; // more bytes than the framing allows
      return this.finishExchange();
    }
    this.deadline = coarseNow() + this.backend!.spec.timeouts.idleMs;
    if (this.backpressured) {
      // The client's window (or the stream's buffer) is full: read the server again once it drains.
      this.backpressured = false;
      const up = this.upstream;
      if (up) {
        up.socket.pause();
        this.stream.once('drain', () => {
          if (this.upstream === up) up.socket.resume();
        });
      }
    }
  }

  /** `last`: the body ends with these bytes (one end() instead of a write() and an end()). */
  private writeBody(buf: Buffer, from: number, to: number, last = false): void {
    const n = to - from;
    if (n <= 0) return;
    this.sentBytes += n;
    let data: Buffer;
    if (n <= COPY_BODY) {
      data = Buffer.allocUnsafe(n);
      buf.copy(data, 0, from, to);
    } else {
      data = buf.subarray(from, to);
      this.upstream?.keep();
    }
    if (last) this.stream.end(data);
    else if (!this.stream.write(data)) this.backpressured = true;
  }

  protected startTunnel(): void {
    // Never asked for: HTTP/2 requests carry no Upgrade (connectionUpgrade is false).
    this.upstreamFailed('server switched protocols on an HTTP/2 request', 502, 'bad-response');
  }

  protected tunnelToClient(conn: UpstreamConn): void {
    conn.socket.destroy();
  }

  protected tunnelEnded(): void {
    this.abortClient();
  }

  protected exchangeDone(): void {
    this.done = true;
    const stream = this.stream;
    if (!stream.writableEnded && !stream.destroyed) stream.end();
    // Answered before the request body ended: the client may stop sending (RFC 9113 §8.1).
    if (!this.bodyEnded && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
  }

  protected abortClient(): void {
    this.done = true;
    this.closed = true;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  protected respondError(status: number, message: string, termination: string, _close?: boolean, extra = ''): void {
    const stream = this.stream;
    if (!stream.destroyed && !stream.headersSent) {
      const fe = this.shared.current();
      const body = cannedBody(status, message, this.requestId);
      const pairs = extra === '' ? fe.responseHeaderList : [...headerPairs(extra), ...fe.responseHeaderList];
      try {
        stream.respond(cannedH2Headers(status, this.requestId, Buffer.byteLength(body), pairs));
        if (!stream.writableEnded) stream.end(body); // HEAD: node ended the stream with the headers
      } catch {
        stream.close(NGHTTP2_INTERNAL_ERROR);
      }
      if (!this.bodyEnded && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
    }
    this.logExchange(status, termination);
    this.head = undefined;
    this.done = true;
    this.setDeadline(Deadline.None, 0);
  }

  private onStreamClose(): void {
    this.owner.streamClosed(this);
    if (this.done) return;
    this.abandonExchange();
  }

  protected resumeClient(): void {
    if (this.reading) this.stream.resume();
  }
}
