/**
 * HTTP/1.1 message heads (RFC 9112), parsed strictly enough that request smuggling shapes are
 * refused before any byte reaches a server: conflicting or repeated Content-Length,
 * Transfer-Encoding together with Content-Length, codings other than a final `chunked`,
 * obs-fold, whitespace before the colon, bare CR/LF and control characters.
 *
 * Parsing works on the latin1 view of the head, so every byte maps to one UTF-16 unit and the
 * rebuilt head is byte-identical for the parts we keep.
 */

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;

export class HeadError extends Error {
  constructor(readonly status: 400 | 414 | 431 | 501 | 502, message: string) {
    super(message);
  }
}

export interface HeadLimits {
  readonly maxHeaders: number;
  readonly maxUrlBytes: number;
}

interface CommonHead {
  /** 0 or 1: the minor version of HTTP/1.x. */
  minor: number;
  /** Header names (as received) and values, flattened: [name0, value0, name1, value1, …]. */
  readonly raw: string[];
  /** Index in raw of each header to drop when forwarding (hop-by-hop and the ones we rewrite). */
  readonly drop: Set<number>;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  connectionClose: boolean;
  connectionKeepAlive: boolean;
  connectionUpgrade: boolean;
  upgrade: string | undefined;
}

export interface RequestHead extends CommonHead {
  method: string;
  target: string;
  host: string | undefined;
  xForwardedFor: string | undefined;
  requestId: string | undefined;
  cookie: string | undefined;
  expectContinue: boolean;
}

export interface ResponseHead extends CommonHead {
  status: number;
  reason: string;
}


function splitTokens(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t) out.push(t);
  }
  return out;
}

/**
 * Field names the parser acts on, recognised without lower-casing (an allocation per field).
 * OtherHopByHop, Connection and Upgrade are the headers never forwarded as-is in either
 * direction (RFC 9110 §7.6.1): connection, keep-alive, proxy-connection, te, upgrade,
 * proxy-authenticate, proxy-authorization. Matching is by length first, then an ASCII
 * case-insensitive compare; only on names already checked to be tokens, so `c | 0x20` is
 * exact (in a token only letters change under it).
 */
const enum Field {
  Other, ContentLength, TransferEncoding, Connection, Upgrade, OtherHopByHop,
  Host, XForwardedFor, XForwardedProto, XForwardedHost, XRequestId, Cookie, Expect,
}

function nameIs(text: string, start: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    if ((text.charCodeAt(start + k) | 0x20) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

function classify(text: string, start: number, length: number): Field {
  switch (length) {
    case 2: return nameIs(text, start, 'te') ? Field.OtherHopByHop : Field.Other;
    case 4: return nameIs(text, start, 'host') ? Field.Host : Field.Other;
    case 6: return nameIs(text, start, 'cookie') ? Field.Cookie : nameIs(text, start, 'expect') ? Field.Expect : Field.Other;
    case 7: return nameIs(text, start, 'upgrade') ? Field.Upgrade : Field.Other;
    case 10: return nameIs(text, start, 'connection') ? Field.Connection : nameIs(text, start, 'keep-alive') ? Field.OtherHopByHop : Field.Other;
    case 12: return nameIs(text, start, 'x-request-id') ? Field.XRequestId : Field.Other;
    case 14: return nameIs(text, start, 'content-length') ? Field.ContentLength : Field.Other;
    case 15: return nameIs(text, start, 'x-forwarded-for') ? Field.XForwardedFor : Field.Other;
    case 16:
      return nameIs(text, start, 'proxy-connection') ? Field.OtherHopByHop : nameIs(text, start, 'x-forwarded-host') ? Field.XForwardedHost : Field.Other;
    case 17:
      return nameIs(text, start, 'transfer-encoding') ? Field.TransferEncoding : nameIs(text, start, 'x-forwarded-proto') ? Field.XForwardedProto : Field.Other;
    case 18: return nameIs(text, start, 'proxy-authenticate') ? Field.OtherHopByHop : Field.Other;
    case 19: return nameIs(text, start, 'proxy-authorization') ? Field.OtherHopByHop : Field.Other;
    default: return Field.Other;
  }
}

/** RFC 9110 tchar, by char code (HTTP/2 header checks use it too). */
export const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** What String.prototype.trim removes (ECMAScript WhiteSpace and LineTerminator). */
function isTrimmed(c: number): boolean {
  if (c <= 0xff) return c === 32 || (c >= 9 && c <= 13) || c === 0xa0;
  return /\s/.test(String.fromCharCode(c));
}

// Shared, never mutated (token lists are only read and concatenated).
const CLOSE: readonly string[] = ['close'];
const UPGRADE: readonly string[] = ['upgrade'];
const KEEP_ALIVE: readonly string[] = ['keep-alive'];

/** One Connection value as lower-case tokens, like splitTokens; single common tokens skip the arrays. */
function connectionTokens(value: string): readonly string[] {
  switch (value.length) {
    case 5: if (nameIs(value, 0, 'close')) return CLOSE; break;
    case 7: if (nameIs(value, 0, 'upgrade')) return UPGRADE; break;
    case 10: if (nameIs(value, 0, 'keep-alive')) return KEEP_ALIVE; break;
  }
  return splitTokens(value);
}

/**
 * Number of header lines (CRLFs) in `text`; throws on a CR or LF that is not part of a CRLF
 * (the same heads that splitting on CRLF and finding a CR or LF left in a line would refuse).
 */
function countFieldLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
    if (i === 0 || text.charCodeAt(i - 1) !== 13) throw new HeadError(400, 'bare CR or LF in message head');
    n++;
  }
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 1)) {
    if (text.charCodeAt(i + 1) !== 10) throw new HeadError(400, 'bare CR or LF in message head');
  }
  return n;
}

/**
 * Parse the header lines of `text` (from `from`, the index just past the start line's CRLF, with
 * `fieldLines` lines) into `head`, and into `req` for request-only fields. Works on indexes into
 * `text`: per field it allocates the name and value strings and nothing else.
 */
function parseFields(text: string, from: number, fieldLines: number, head: CommonHead, maxHeaders: number, req: RequestHead | undefined): number {
  if (fieldLines > maxHeaders) throw new HeadError(431, `more than ${maxHeaders} header fields`);
  let tokens: readonly string[] | undefined;
  let sawTransferEncoding = false;
  let hosts = 0;
  const end = text.length;
  let ls = from;
  for (let line = 0; line < fieldLines; line++) {
    let le = text.indexOf('\r\n', ls);
    if (le === -1) le = end;
    const colon = text.indexOf(':', ls);
    if (colon <= ls || colon >= le) {
      const c0 = text.charCodeAt(ls);
      if (le > ls && (c0 === 32 || c0 === 9)) throw new HeadError(400, 'obsolete line folding is not allowed');
      throw new HeadError(400, 'malformed header line');
    }
    for (let p = ls; p < colon; p++) {
      const c = text.charCodeAt(p);
      if (c >= 128 || TCHAR[c] === 0) throw new HeadError(400, `invalid header name ${JSON.stringify(text.slice(ls, colon).slice(0, 40))}`);
    }
    let vs = colon + 1;
    let ve = le;
    while (vs < ve && isTrimmed(text.charCodeAt(vs))) vs++;
    while (ve > vs && isTrimmed(text.charCodeAt(ve - 1))) ve--;
    for (let p = vs; p < ve; p++) {
      const c = text.charCodeAt(p);
      if (c < 32 ? c !== 9 : c === 127) throw new HeadError(400, `invalid character in header ${text.slice(ls, colon)}`);
    }
    const name = text.slice(ls, colon);
    const value = text.slice(vs, ve);
    const index = head.raw.length;
    head.raw.push(name, value);
    switch (classify(text, ls, colon - ls)) {
      case Field.ContentLength: {
        if (!/^\d{1,15}$/.test(value)) throw new HeadError(400, 'invalid Content-Length');
        const n = Number(value);
        if (head.contentLength !== -1 && head.contentLength !== n) throw new HeadError(400, 'conflicting Content-Length headers');
        if (head.contentLength !== -1) head.drop.add(index); // an identical repeat is folded into one
        head.contentLength = n;
        break;
      }
      case Field.TransferEncoding: {
        if (sawTransferEncoding) throw new HeadError(400, 'repeated Transfer-Encoding header');
        sawTransferEncoding = true;
        const codings = splitTokens(value);
        if (codings.length !== 1 || codings[0] !== 'chunked') {
          throw new HeadError(501, `unsupported Transfer-Encoding ${JSON.stringify(value)}`);
        }
        head.chunked = true;
        break;
      }
      case Field.Connection: {
        head.drop.add(index);
        const t = connectionTokens(value);
        tokens = tokens === undefined ? t : tokens.concat(t);
        break;
      }
      case Field.Upgrade:
        head.drop.add(index);
        head.upgrade = value;
        break;
      case Field.OtherHopByHop:
        head.drop.add(index);
        break;
      case Field.Host:
        if (req) {
          hosts++;
          req.host = value;
        }
        break;
      case Field.XForwardedFor:
        if (req) {
          req.xForwardedFor = req.xForwardedFor === undefined ? value : `${req.xForwardedFor}, ${value}`;
          head.drop.add(index);
        }
        break;
      case Field.XForwardedProto:
      case Field.XForwardedHost:
        if (req) head.drop.add(index);
        break;
      case Field.XRequestId:
        if (req) {
          req.requestId = value;
          head.drop.add(index);
        }
        break;
      case Field.Cookie:
        if (req) req.cookie = req.cookie === undefined ? value : `${req.cookie}; ${value}`;
        break;
      case Field.Expect:
        if (req && value.toLowerCase() === '100-continue') req.expectContinue = true;
        break;
      default:
        break;
    }
    ls = le + 2;
  }
  if (head.chunked && head.contentLength !== -1) {
    throw new HeadError(400, 'both Transfer-Encoding and Content-Length');
  }
  if (tokens) {
    let named = false;
    for (const t of tokens) {
      if (t === 'close') head.connectionClose = true;
      else if (t === 'keep-alive') head.connectionKeepAlive = true;
      else if (t === 'upgrade') head.connectionUpgrade = true;
      else named = true;
    }
    if (named) {
      // Headers named by Connection are hop-by-hop too.
      const names = tokens.filter((t) => t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
      for (let i = 0; i < head.raw.length; i += 2) {
        if (names.includes(head.raw[i]!.toLowerCase())) head.drop.add(i);
      }
    }
  }
  return hosts;
}

/** `text` is the head without its final CRLFCRLF, decoded as latin1. */
export function parseRequestHead(text: string, limits: HeadLimits): RequestHead {
  const fieldLines = countFieldLines(text);
  let startEnd = text.indexOf('\r\n');
  if (startEnd === -1) startEnd = text.length;
  const start = text.slice(0, startEnd);
  const m = REQUEST_LINE.exec(start);
  if (!m) {
    if (start.length > limits.maxUrlBytes + 32) throw new HeadError(414, 'request target too long');
    throw new HeadError(400, 'malformed request line');
  }
  const target = m[2]!;
  if (target.length > limits.maxUrlBytes) throw new HeadError(414, `request target longer than ${limits.maxUrlBytes} bytes`);
  const head: RequestHead = {
    method: m[1]!, target, minor: m[3] === '0' ? 0 : 1, raw: [], drop: new Set(), contentLength: -1, chunked: false,
    connectionClose: false, connectionKeepAlive: false, connectionUpgrade: false, upgrade: undefined,
    host: undefined, xForwardedFor: undefined, requestId: undefined, cookie: undefined, expectContinue: false,
  };
  const hosts = parseFields(text, startEnd + 2, fieldLines, head, limits.maxHeaders, head);
  if (hosts > 1) throw new HeadError(400, 'more than one Host header');
  if (head.minor === 1 && hosts === 0) throw new HeadError(400, 'missing Host header');
  if (head.chunked && head.minor === 0) throw new HeadError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  return head;
}

export function parseResponseHead(text: string, maxHeaders: number): ResponseHead {
  const fieldLines = countFieldLines(text);
  let startEnd = text.indexOf('\r\n');
  if (startEnd === -1) startEnd = text.length;
  const m = STATUS_LINE.exec(text.slice(0, startEnd));
  if (!m) throw new HeadError(502, 'malformed status line from server');
  const head: ResponseHead = {
    status: Number(m[2]), reason: m[3] ?? '', minor: m[1] === '0' ? 0 : 1, raw: [], drop: new Set(), contentLength: -1,
    chunked: false, connectionClose: false, connectionKeepAlive: false, connectionUpgrade: false, upgrade: undefined,
  };
  try {
    parseFields(text, startEnd + 2, fieldLines, head, maxHeaders, undefined);
  } catch (err) {
    if (err instanceof HeadError && err.message === 'both Transfer-Encoding and Content-Length') {
      // RFC 9112 §6.3: chunked wins; the Content-Length must not be forwarded.
      for (let i = 0; i < head.raw.length; i += 2) {
        if (head.raw[i]!.toLowerCase() === 'content-length') head.drop.add(i);
      }
      head.contentLength = -1;
    } else if (err instanceof HeadError) {
      throw new HeadError(502, `invalid response head from server: ${err.message}`);
    } else {
      throw err;
    }
  }
  return head;
}

/** The kept header lines, each as `name: value\r\n`. */
export function keptFields(head: CommonHead): string {
  let out = '';
  const raw = head.raw;
  const drop = head.drop;
  for (let i = 0; i < raw.length; i += 2) {
    if (drop.size !== 0 && drop.has(i)) continue;
    out += raw[i] + ': ' + raw[i + 1] + '\r\n';
  }
  return out;
}

export function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET': case 'HEAD': case 'OPTIONS': case 'TRACE': case 'PUT': case 'DELETE':
      return true;
    default:
      return false;
  }
}
