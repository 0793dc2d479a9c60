/**
 * HTTP/1.1 message heads (RFC 9112), parsed strictly enough that request smuggling shapes are
 * refused before any byte reaches a server: conflicting or repeated Content-Length,
 * Transfer-Encoding together with Content-Length, codings other than a final `chunked`,
 * obs-fold, whitespace before the colon, bare CR/LF and control characters.
 *
 * Parsing works on the latin1 view of the head, so every byte maps to one UTF-16 unit and the
 * rebuilt head is byte-identical for the parts we keep.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, space, tab and obs-text; never NUL, CR or LF. */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
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

/** Headers never forwarded as-is in either direction (RFC 9110 §7.6.1), lower-case. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'proxy-authenticate',
  'proxy-authorization',
]);

function splitTokens(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t) out.push(t);
  }
  return out;
}

/** Parse the header lines (after the start line) into `head`; `lines` excludes the start line. */
function parseFields(
  lines: string[],
  head: CommonHead,
  maxHeaders: number,
  onField: (lower: string, value: string, index: number) => void,
): void {
  if (lines.length - 1 > maxHeaders) throw new HeadError(431, `more than ${maxHeaders} header fields`);
  let connectionTokens: string[] | undefined;
  let sawTransferEncoding = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      if (line.length > 0 && (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9)) {
        throw new HeadError(400, 'obsolete line folding is not allowed');
      }
      throw new HeadError(400, 'malformed header line');
    }
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadError(400, `invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new HeadError(400, `invalid character in header ${name}`);
    const index = head.raw.length;
    head.raw.push(name, value);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) head.drop.add(index);
    switch (lower) {
      case 'content-length': {
        if (!/^\d{1,15}$/.test(value)) throw new HeadError(400, 'invalid Content-Length');
        const n = Number(value);
        if (head.contentLength !== -1 && head.contentLength !== n) throw new HeadError(400, 'conflicting Content-Length headers');
        if (head.contentLength !== -1) head.drop.add(index); // an identical repeat is folded into one
        head.contentLength = n;
        break;
      }
      case 'transfer-encoding': {
        if (sawTransferEncoding) throw new HeadError(400, 'repeated Transfer-Encoding header');
        sawTransferEncoding = true;
        const codings = splitTokens(value);
        if (codings.length !== 1 || codings[0] !== 'chunked') {
          throw new HeadError(501, `unsupported Transfer-Encoding ${JSON.stringify(value)}`);
        }
        head.chunked = true;
        break;
      }
      case 'connection':
        connectionTokens = (connectionTokens ?? []).concat(splitTokens(value));
        break;
      case 'upgrade':
        head.upgrade = value;
        break;
      default:
        break;
    }
    onField(lower, value, index);
  }
  if (head.chunked && head.contentLength !== -1) {
    throw new HeadError(400, 'both Transfer-Encoding and Content-Length');
  }
  if (connectionTokens) {
    for (const t of connectionTokens) {
      if (t === 'close') head.connectionClose = true;
      else if (t === 'keep-alive') head.connectionKeepAlive = true;
      else if (t === 'upgrade') head.connectionUpgrade = true;
    }
    // Headers named by Connection are hop-by-hop too.
    const named = connectionTokens.filter((t) => t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
    if (named.length > 0) {
      for (let i = 0; i < head.raw.length; i += 2) {
        if (named.includes(head.raw[i]!.toLowerCase())) head.drop.add(i);
      }
    }
  }
}

function splitLines(text: string): string[] {
  const lines = text.split('\r\n');
  for (const line of lines) {
    if (line.includes('\n') || line.includes('\r')) throw new HeadError(400, 'bare CR or LF in message head');
  }
  return lines;
}

/** `text` is the head without its final CRLFCRLF, decoded as latin1. */
export function parseRequestHead(text: string, limits: HeadLimits): RequestHead {
  const lines = splitLines(text);
  const start = lines[0]!;
  const m = REQUEST_LINE.exec(start);
  if (!m) {
    if (start.length > limits.maxUrlBytes + 32) throw new HeadError(414, 'request target too long');
    throw new HeadError(400, 'malformed request line');
  }
  const target = m[2]!;
  if (target.length > limits.maxUrlBytes) throw new HeadError(414, `request target longer than ${limits.maxUrlBytes} bytes`);
  const head: RequestHead = {
    method: m[1]!, target, minor: Number(m[3]), raw: [], drop: new Set(), contentLength: -1, chunked: false,
    connectionClose: false, connectionKeepAlive: false, connectionUpgrade: false, upgrade: undefined,
    host: undefined, xForwardedFor: undefined, requestId: undefined, cookie: undefined, expectContinue: false,
  };
  let hosts = 0;
  parseFields(lines, head, limits.maxHeaders, (lower, value, index) => {
    switch (lower) {
      case 'host':
        hosts++;
        head.host = value;
        break;
      case 'x-forwarded-for':
        head.xForwardedFor = head.xForwardedFor === undefined ? value : `${head.xForwardedFor}, ${value}`;
        head.drop.add(index);
        break;
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
        head.drop.add(index);
        break;
      case 'x-request-id':
        head.requestId = value;
        head.drop.add(index);
        break;
      case 'cookie':
        head.cookie = head.cookie === undefined ? value : `${head.cookie}; ${value}`;
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') head.expectContinue = true;
        break;
      default:
        break;
    }
  });
  if (hosts > 1) throw new HeadError(400, 'more than one Host header');
  if (head.minor === 1 && hosts === 0) throw new HeadError(400, 'missing Host header');
  if (head.chunked && head.minor === 0) throw new HeadError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  return head;
}

export function parseResponseHead(text: string, maxHeaders: number): ResponseHead {
  const lines = splitLines(text);
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) throw new HeadError(502, 'malformed status line from server');
  const head: ResponseHead = {
    status: Number(m[2]), reason: m[3] ?? '', minor: Number(m[1]), raw: [], drop: new Set(), contentLength: -1,
    chunked: false, connectionClose: false, connectionKeepAlive: false, connectionUpgrade: false, upgrade: undefined,
  };
  try {
    parseFields(lines, head, maxHeaders, () => {});
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
