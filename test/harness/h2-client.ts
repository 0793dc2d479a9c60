/** node:http2 requests for edge tests: a session over TLS, one call per request, whole body, bounded in time. */
import http2 from 'node:http2';
import { HOST } from './ports.js';

export interface H2Result {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Set when the stream was reset instead of answered. */
  error?: string;
}

export interface H2ConnectOptions {
  /** PEM of the CA the edge's certificate chains to. */
  ca: string;
  /** Source address (a loopback address stands for a client host). */
  localAddress?: string;
  servername?: string;
}

/** A connected HTTP/2 session to 127.0.0.1:port (after the server's SETTINGS arrived). */
export function h2Connect(port: number, opts: H2ConnectOptions): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${HOST}:${port}`, {
      ca: opts.ca, servername: opts.servername ?? 'localhost',
      ...(opts.localAddress && { localAddress: opts.localAddress }),
    });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no HTTP/2 session with port ${port} within 5 s`));
    }, 5000);
    session.once('remoteSettings', () => {
      clearTimeout(timer);
      resolve(session);
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * One request on `session`. `body` chunks are written one by one (no content-length unless the
 * headers say so); resolves with the response, or with `error` set when the stream was reset.
 */
export function h2Request(
  session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | readonly Buffer[], timeoutMs = 10_000,
): Promise<H2Result> {
  return new Promise((resolve) => {
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    } catch (err) {
      resolve({ status: 0, headers: {}, body: Buffer.alloc(0), text: '', error: (err as Error).message });
      return;
    }
    let resHeaders: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    req.on('response', (h) => {
      resHeaders = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      clearTimeout(timer);
      const b = Buffer.concat(chunks);
      const status = Number(resHeaders[':status'] ?? 0);
      const reset = req.rstCode !== undefined && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
      resolve({ status, headers: resHeaders, body: b, text: b.toString(), ...(reset || status === 0 ? { error: `stream closed with code ${req.rstCode}` } : {}) });
    });
    req.on('error', () => {});
    if (body !== undefined) {
      const parts = Buffer.isBuffer(body) ? [body] : body;
      const write = (i: number): void => {
        if (i >= parts.length) {
          req.end();
          return;
        }
        if (req.write(parts[i]!)) setImmediate(() => write(i + 1));
        else req.once('drain', () => write(i + 1));
      };
      write(0);
    }
  });
}

export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve();
    const timer = setTimeout(() => {
      session.destroy();
      resolve();
    }, 2000);
    session.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
