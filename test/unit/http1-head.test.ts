import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeadError, keptFields, parseRequestHead, parseResponseHead } from '../../src/data-plane/http1/head.js';

const LIMITS = { maxHeaders: 10, maxUrlBytes: 64 };

function req(lines: string[]): ReturnType<typeof parseRequestHead> {
  return parseRequestHead(lines.join('\r\n'), LIMITS);
}

function refused(lines: string[], status: number, message: RegExp): void {
  assert.throws(() => req(lines), (err: unknown) => {
    assert.ok(err instanceof HeadError, String(err));
    assert.equal(err.status, status);
    assert.match(err.message, message);
    return true;
  });
}

describe('request heads', () => {
  it('parses method, target, version, host and framing', () => {
    const h = req(['POST /a?b=1 HTTP/1.1', 'Host: example.com', 'Content-Length: 12', 'X-Thing: v']);
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.minor, 1);
    assert.equal(h.host, 'example.com');
    assert.equal(h.contentLength, 12);
    assert.equal(h.chunked, false);
  });

  it('drops hop-by-hop fields, fields named by Connection, and the ones the edge rewrites', () => {
    const h = req([
      'GET / HTTP/1.1', 'Host: a', 'Connection: keep-alive, X-Secret', 'X-Secret: s', 'Keep-Alive: timeout=5',
      'TE: trailers', 'Proxy-Connection: keep-alive', 'X-Forwarded-For: 10.0.0.1', 'X-Forwarded-Proto: https',
      'X-Request-Id: abc', 'Accept: */*',
    ]);
    assert.equal(keptFields(h), 'Host: a\r\nAccept: */*\r\n');
    assert.equal(h.xForwardedFor, '10.0.0.1');
    assert.equal(h.requestId, 'abc');
    assert.equal(h.connectionKeepAlive, true);
  });

  it('joins repeated X-Forwarded-For and Cookie headers', () => {
    const h = req(['GET / HTTP/1.1', 'Host: a', 'X-Forwarded-For: 1.1.1.1', 'X-Forwarded-For: 2.2.2.2', 'Cookie: a=1', 'Cookie: b=2']);
    assert.equal(h.xForwardedFor, '1.1.1.1, 2.2.2.2');
    assert.equal(h.cookie, 'a=1; b=2');
  });

  it('folds an identical repeated Content-Length into one', () => {
    const h = req(['POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 5']);
    assert.equal(h.contentLength, 5);
    assert.equal(keptFields(h), 'Host: a\r\nContent-Length: 5\r\n');
  });

  it('refuses smuggling shapes and malformed heads', () => {
    refused(['POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked'], 400, /both Transfer-Encoding and Content-Length/);
    refused(['POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 6'], 400, /conflicting Content-Length/);
    refused(['POST / HTTP/1.1', 'Host: a', 'Content-Length: +5'], 400, /invalid Content-Length/);
    refused(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked'], 501, /unsupported Transfer-Encoding/);
    refused(['POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], 400, /repeated Transfer-Encoding/);
    refused(['GET / HTTP/1.1', 'Host : a'], 400, /invalid header name/);
    refused(['GET / HTTP/1.1', 'Host: a', 'X: 1', ' folded'], 400, /obsolete line folding/);
    refused(['GET / HTTP/1.1', 'Host: a\nX: 1'], 400, /bare CR or LF/);
    refused(['GET / HTTP/1.1', 'Host: a', 'X: a\x00b'], 400, /invalid character/);
    refused(['GET /  HTTP/1.1', 'Host: a'], 400, /malformed request line/);
    refused(['GET / HTTP/2.0', 'Host: a'], 400, /malformed request line/);
    refused(['GET / HTTP/1.1'], 400, /missing Host/);
    refused(['GET / HTTP/1.1', 'Host: a', 'Host: b'], 400, /more than one Host/);
    refused(['POST / HTTP/1.0', 'Transfer-Encoding: chunked'], 400, /HTTP\/1\.0/);
    refused(['GET /' + 'x'.repeat(70) + ' HTTP/1.1', 'Host: a'], 414, /longer than 64 bytes/);
    refused(['GET / HTTP/1.1', 'Host: a', ...Array.from({ length: 10 }, (_, i) => `X-${i}: v`)], 431, /more than 10 header fields/);
  });

  it('accepts HTTP/1.0 without Host', () => {
    const h = req(['GET / HTTP/1.0']);
    assert.equal(h.minor, 0);
    assert.equal(h.host, undefined);
  });
});

describe('response heads', () => {
  it('parses status, reason and framing; drops hop-by-hop fields', () => {
    const r = parseResponseHead(['HTTP/1.1 200 OK', 'Content-Length: 3', 'Connection: keep-alive', 'Keep-Alive: timeout=5', 'X-A: 1'].join('\r\n'), 10);
    assert.equal(r.status, 200);
    assert.equal(r.reason, 'OK');
    assert.equal(r.contentLength, 3);
    assert.equal(keptFields(r), 'Content-Length: 3\r\nX-A: 1\r\n');
  });

  it('lets chunked win over Content-Length and never forwards the Content-Length', () => {
    const r = parseResponseHead(['HTTP/1.1 200 OK', 'Content-Length: 3', 'Transfer-Encoding: chunked'].join('\r\n'), 10);
    assert.equal(r.chunked, true);
    assert.equal(r.contentLength, -1);
    assert.equal(keptFields(r), 'Transfer-Encoding: chunked\r\n');
  });

  it('a broken response head is a 502', () => {
    assert.throws(() => parseResponseHead('HTTP/1.1 OK', 10), (e: unknown) => e instanceof HeadError && e.status === 502);
    assert.throws(() => parseResponseHead('HTTP/1.1 200 OK\r\nBad Header: x', 10), (e: unknown) => e instanceof HeadError && e.status === 502);
  });
});
