/**
 * One HTTP/2 client connection (a TLS socket whose ALPN chose h2): node's http2 does the framing,
 * HPACK and flow control on the socket we already accepted and handshook
 * (http2.performServerHandshake: no second server, no second TLS layer); each stream is an
 * H2Exchange. The edge firewall admits the connection once, as for HTTP/1; streams are bounded
 * by SETTINGS_MAX_CONCURRENT_STREAMS; shutdown is a GOAWAY that lets open streams finish.
 */
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import { coarseNow } from '../../core/coarse-tick.js';
import { normalizeIp } from '../../core/cidr.js';
import type { EdgeFirewall, Verdict } from '../edge-firewall/index.js';
import { H2Exchange, type H2Owner } from './h2-exchange.js';
import type { ClientConnection, HttpProxyShared } from './shared.js';

/** performServerHandshake came with node 20.12: on an older node 20, HTTPS ports do not offer h2. */
export const H2_SUPPORTED = typeof http2.performServerHandshake === 'function';

/** Streams one client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused by nghttp2. */
export const H2_MAX_STREAMS = 100;
/** After GOAWAY with no stream left, how long the client gets to close before we cut the connection. */
const CLOSE_GRACE_MS = 5000;

export class H2Connection implements ClientConnection, H2Owner {
  /**
   * For the listener's tick. With streams open it is always due (1), so expire() looks at each
   * stream's own deadline every tick; otherwise the idle keep-alive deadline, or once closing the
   * end of the grace a client gets to hang up.
   */
  deadline = 0;
  private readonly session: ServerHttp2Session;
  private readonly exchanges = new Set<H2Exchange>();
  private readonly clientIp: string;
  private readonly firewall: EdgeFirewall | undefined;
  private readonly acceptVerdict: Verdict | undefined;
  private countedByFirewall = false;
  private readonly peerTrusted: boolean;
  private closing = false;

  constructor(socket: net.Socket, private readonly shared: HttpProxyShared) {
    const fe = shared.current();
    this.clientIp = normalizeIp(socket.remoteAddress ?? '');
    this.firewall = fe.firewall;
    // Once per connection: a subnet match is too dear to repeat on every stream.
    this.peerTrusted = this.firewall?.isTrusted(this.clientIp) ?? false;
    if (this.firewall) {
      this.acceptVerdict = this.firewall.onAccept(this.clientIp, coarseNow(), this.peerTrusted);
      this.countedByFirewall = this.acceptVerdict === undefined;
    }
    socket.setNoDelay(true);
    const limits = fe.spec.limits;
    this.session = http2.performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: H2_MAX_STREAMS,
        // Advisory for the client; the edge's own check (max_header_bytes → 431) is stricter.
        maxHeaderListSize: 2 * limits.maxHeaderBytes + 32 * (limits.maxHeaders + 8),
      },
      // Fields (pseudo-headers included) beyond which nghttp2 resets the stream without an answer:
      // well above max_headers, so a client just over it gets the edge's 431.
      maxHeaderListPairs: Math.max(128, 2 * limits.maxHeaders + 4),
    });
    this.session.on('stream', (stream: ServerHttp2Stream, _headers: unknown, _flags: number, raw: string[]) => this.onStream(stream, raw));
    this.session.on('error', () => {}); // 'close' follows
    this.session.on('close', () => this.onClose());
    // Until the first stream, the request-header timeout: a connection that never asks is let go.
    this.deadline = coarseNow() + fe.spec.timeouts.requestHeaderMs;
    if (shared.closing) this.shutdown();
  }

  private onStream(stream: ServerHttp2Stream, raw: string[]): void {
    const ex = new H2Exchange(this, stream, this.shared, this.clientIp, this.shared.current(), this.peerTrusted);
    this.exchanges.add(ex);
    this.deadline = 1;
    ex.start(raw, this.acceptVerdict);
  }

  streamClosed(ex: H2Exchange): void {
    this.exchanges.delete(ex);
    if (this.exchanges.size > 0) return;
    this.deadline = coarseNow() + (this.closing ? CLOSE_GRACE_MS : this.shared.current().spec.timeouts.keepAliveMs);
  }

  expire(now: number): void {
    if (this.exchanges.size > 0) {
      for (const ex of this.exchanges) if (ex.deadline !== 0 && ex.deadline <= now) ex.expire(now);
      return;
    }
    this.deadline = 0;
    // Idle past the keep-alive timeout (or never asked anything): GOAWAY. Already closing: the
    // client did not hang up (or nghttp2 waits on a stream that never got its headers): cut.
    if (this.closing) this.destroy();
    else this.shutdown();
  }

  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.exchanges.size === 0) this.deadline = coarseNow() + CLOSE_GRACE_MS;
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }

  /** GOAWAY: its open streams finish, it opens no more (each would be refused anyway). */
  cutIfBanned(ip: string): boolean {
    if (!this.firewall || this.peerTrusted || this.clientIp !== ip || this.closing) return false;
    this.shutdown();
    return true;
  }

  private onClose(): void {
    if (this.countedByFirewall) {
      this.countedByFirewall = false;
      this.firewall!.onClose(this.clientIp);
    }
    this.deadline = 0;
    this.shared.forget(this);
  }
}
