/**
 * HTTP/2 header lists ⇄ the HTTP/1.1 heads our servers speak (RFC 9113 §8.2–8.3, RFC 9110 §7.6.1).
 *
 * A request's pseudo-headers become the request line and Host (`:authority` wins over a Host
 * field), the cookie fields HTTP/2 allows to be split are joined again, hop-by-hop fields never
 * cross, and a body of unknown length goes upstream chunked. The result is a RequestHead, so the
 * HTTP/1 path's firewall, routing, balancing and head building apply unchanged.
 *
 * Everything an HTTP/1 request line or field may not contain is refused here, whatever nghttp2
 * let through: the values are written into an HTTP/1.1 head, where a stray CR, LF or space would
 * split or smuggle a request.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { HeadError, TCHAR, type HeadLimits, type RequestHead, type ResponseHead } from '../http1/head.js';

export interface H2RequestLimits extends HeadLimits {
  /** Counted as the HTTP/1 head would be: "name: value\r\n" per field, plus the request line. */
  readonly maxHeaderBytes: number;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A field name as HTTP/2 sends it: a token without upper-case letters. */
function isFieldName(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0 || (c >= 65 && c <= 90)) return false;
  }
  return true;
}

/** A field value the HTTP/1 parser would accept: no control characters but tab, no DEL. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 ? c !== 9 : c === 127 || c > 255) return false;
  }
  return true;
}

/** A request target for the request line: visible ASCII only. */
function isTarget(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127) return false;
  }
  return true;
}

/**
 * The HTTP/1.1 request head for an HTTP/2 request. `raw` is node's raw header list
 * ([name, value, …], pseudo-headers first); `endStream`: the HEADERS frame ended the stream (no
 * body). Throws HeadError (400, 414, 431, 501) for what the edge must refuse.
 */
export function requestHeadFromH2(raw: readonly string[], endStream: boolean, limits: H2RequestLimits): RequestHead {
  let method: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let protocol: string | undefined;
  let contentLength = -1;
  let cookie: string | undefined;
  let xForwardedFor: string | undefined;
  let requestId: string | undefined;
  let expectContinue = false;
  let fields = 0;
  let size = 0;
  // Host first, as HTTP/1 clients send it; its value is known once every field is read.
  const out: string[] = ['host', ''];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    size += name.length + value.length + 4;
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':method': method = value; break;
        case ':path': path = value; break;
        case ':authority': authority = value; break;
        case ':protocol': protocol = value; break;
        case ':scheme': break;
        default: throw new HeadError(400, `unknown pseudo-header ${name.slice(0, 40)}`);
      }
      continue;
    }
    fields++;
    if (!isFieldName(name)) throw new HeadError(400, `invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    if (!isFieldValue(value)) throw new HeadError(400, `invalid character in header ${name}`);
    switch (name) {
      case 'host':
        if (host !== undefined) throw new HeadError(400, 'more than one Host header');
        host = value;
        break;
      case 'content-length': {
        if (!/^\d{1,15}$/.test(value)) throw new HeadError(400, 'invalid Content-Length');
        const n = Number(value);
        if (contentLength !== -1 && contentLength !== n) throw new HeadError(400, 'conflicting Content-Length headers');
        contentLength = n;
        break;
      }
      // Connection-specific fields make an HTTP/2 message malformed (RFC 9113 §8.2.2).
      case 'connection': case 'keep-alive': case 'proxy-connection': case 'transfer-encoding': case 'upgrade':
        throw new HeadError(400, `connection-specific header ${name} in an HTTP/2 request`);
      // Hop-by-hop (te: trailers is the only one HTTP/2 allows) and the ones the edge writes itself.
      case 'te': case 'proxy-authenticate': case 'proxy-authorization': case 'x-forwarded-proto': case 'x-forwarded-host':
        break;
      case 'x-forwarded-for':
        xForwardedFor = xForwardedFor === undefined ? value : `${xForwardedFor}, ${value}`;
        break;
      case 'x-request-id':
        requestId = value;
        break;
      case 'cookie':
        // RFC 9113 §8.2.3: crumbs are joined with "; " for an HTTP/1.1 hop.
        cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        out.push(name, value);
        break;
      default:
        out.push(name, value);
    }
  }
  if (fields > limits.maxHeaders) throw new HeadError(431, `more than ${limits.maxHeaders} header fields`);
  if (size > limits.maxHeaderBytes) throw new HeadError(431, 'request head larger than max_header_bytes');
  if (method === undefined || !isToken(method)) throw new HeadError(400, 'missing or invalid :method');
  if (method === 'CONNECT' || protocol !== undefined) throw new HeadError(501, 'CONNECT is not supported over HTTP/2');
  if (path === undefined || path.length === 0) throw new HeadError(400, 'missing :path');
  if (path.length > limits.maxUrlBytes) throw new HeadError(414, `request target longer than ${limits.maxUrlBytes} bytes`);
  if (!isTarget(path) || (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS'))) throw new HeadError(400, 'invalid :path');
  const target = authority ?? host;
  if (target === undefined || target.length === 0) throw new HeadError(400, 'missing :authority');
  if (!isTarget(target)) throw new HeadError(400, 'invalid :authority');
  if (endStream && contentLength > 0) throw new HeadError(400, 'Content-Length announces a body the request does not have');

  out[1] = target;
  if (cookie !== undefined) out.push('cookie', cookie);
  let chunked = false;
  if (contentLength >= 0) out.push('content-length', String(contentLength));
  else if (!endStream) {
    // DATA frames of unknown total length: framed for the server as chunks.
    out.push('transfer-encoding', 'chunked');
    chunked = true;
  }
  return {
    method, target: path, minor: 1, raw: out, drop: new Set(), contentLength, chunked,
    connectionClose: false, connectionKeepAlive: false, connectionUpgrade: false, upgrade: undefined,
    host: target, xForwardedFor, requestId, cookie, expectContinue,
  };
}

/** Fields node's http2 takes once only (its kSingleValueHeaders): a repeat from a server is dropped. */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** Never sent to an HTTP/2 client (RFC 9113 §8.2.2); the HTTP/1 parser already drops the rest of the hop-by-hop ones. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

/** Header pairs (lower-case names) from header lines "name: value\r\n…". */
export function headerPairs(lines: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of lines.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

function add(h: Record<string, string | string[] | number>, name: string, value: string): void {
  const prev = h[name];
  if (prev === undefined) h[name] = value;
  else if (SINGLE_VALUE.has(name)) return;
  else if (Array.isArray(prev)) prev.push(value);
  else h[name] = [prev as string, value];
}

/**
 * The HTTP/2 response headers for a server's HTTP/1 response head: `:status`, the fields it kept
 * minus the connection-specific ones, names lower-cased, repeated fields as lists; then `extra`
 * (the frontend's own headers, a sticky cookie).
 */
export function h2ResponseHeaders(res: ResponseHead, extra: readonly (readonly [string, string])[]): OutgoingHttpHeaders {
  const h: Record<string, string | string[] | number> = Object.create(null) as Record<string, string | string[] | number>;
  h[':status'] = res.status;
  const raw = res.raw;
  const drop = res.drop;
  for (let i = 0; i < raw.length; i += 2) {
    if (drop.size !== 0 && drop.has(i)) continue;
    const name = raw[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name)) continue;
    add(h, name, raw[i + 1]!);
  }
  for (const [name, value] of extra) add(h, name, value);
  return h;
}

/** Headers of a response the edge writes itself (canned.ts's JSON body, `length` bytes). */
export function cannedH2Headers(status: number, requestId: string, length: number, extra: readonly (readonly [string, string])[]): OutgoingHttpHeaders {
  const h: Record<string, string | string[] | number> = Object.create(null) as Record<string, string | string[] | number>;
  h[':status'] = status;
  h['content-type'] = 'application/json';
  h['cache-control'] = 'no-store';
  h['x-request-id'] = requestId;
  for (const [name, value] of extra) add(h, name, value);
  h['content-length'] = length;
  return h;
}
