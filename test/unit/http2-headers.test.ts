/** HTTP/2 ⇄ HTTP/1.1 header mapping (data-plane/http2/headers.ts) and chunked decoding for HTTP/2 responses. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cannedH2Headers, h2ResponseHeaders, headerPairs, requestHeadFromH2 } from '../../src/data-plane/http2/headers.js';
import { HeadError, keptFields, parseResponseHead } from '../../src/data-plane/http1/head.js';
import { BodyFramer } from '../../src/data-plane/http1/framing.js';

const LIMITS = { maxHeaders: 10, maxUrlBytes: 100, maxHeaderBytes: 1000 };
const BASE = [':method', 'GET', ':path', '/a?b=1', ':scheme', 'https', ':authority', 'shop.example:8443'];

function refused(raw: string[], endStream: boolean, status: number, message?: RegExp): void {
  assert.throws(() => requestHeadFromH2(raw, endStream, LIMITS), (err: unknown) => {
    assert.ok(err instanceof HeadError, String(err));
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('requestHeadFromH2', () => {
  it('maps pseudo-headers to the request line and Host, keeping the other fields in order', () => {
    const h = requestHeadFromH2([...BASE, 'accept', '*/*', 'user-agent', 'test/1'], true, LIMITS);
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.minor, 1);
    assert.equal(h.host, 'shop.example:8443');
    assert.equal(keptFields(h), 'host: shop.example:8443\r\naccept: */*\r\nuser-agent: test/1\r\n');
    assert.equal(h.contentLength, -1);
    assert.equal(h.chunked, false);
    assert.equal(h.connectionUpgrade, false);
  });

  it(':authority wins over a Host field; Host alone is accepted', () => {
    assert.equal(keptFields(requestHeadFromH2([...BASE, 'host', 'other'], true, LIMITS)), 'host: shop.example:8443\r\n');
    const hostOnly = requestHeadFromH2([':method', 'GET', ':path', '/', ':scheme', 'https', 'host', 'h.example'], true, LIMITS);
    assert.equal(hostOnly.host, 'h.example');
    refused([':method', 'GET', ':path', '/', ':scheme', 'https'], true, 400, /authority/);
  });

  it('takes X-Forwarded-For and X-Request-Id for the edge to rewrite, drops hop-by-hop and X-Forwarded-Proto/-Host', () => {
    const h = requestHeadFromH2([
      ...BASE, 'x-forwarded-for', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'x-request-id', 'abc', 'te', 'trailers',
      'x-forwarded-proto', 'http', 'x-forwarded-host', 'evil', 'proxy-authorization', 'secret', 'accept', 'x',
    ], true, LIMITS);
    assert.equal(h.xForwardedFor, '10.0.0.1, 10.0.0.2');
    assert.equal(h.requestId, 'abc');
    assert.equal(keptFields(h), 'host: shop.example:8443\r\naccept: x\r\n');
  });

  it('joins cookie crumbs into one field (RFC 9113 §8.2.3)', () => {
    const h = requestHeadFromH2([...BASE, 'cookie', 'a=1', 'accept', 'x', 'cookie', 'b=2'], true, LIMITS);
    assert.equal(h.cookie, 'a=1; b=2');
    assert.equal(keptFields(h), 'host: shop.example:8443\r\naccept: x\r\ncookie: a=1; b=2\r\n');
  });

  it('frames the body for HTTP/1.1: its Content-Length, else chunked; none when the headers ended the stream', () => {
    const post = [':method', 'POST', ':path', '/p', ':scheme', 'https', ':authority', 'h'];
    const withLength = requestHeadFromH2([...post, 'content-length', '12'], false, LIMITS);
    assert.equal(withLength.contentLength, 12);
    assert.equal(withLength.chunked, false);
    assert.match(keptFields(withLength), /content-length: 12\r\n$/);
    const unknown = requestHeadFromH2(post, false, LIMITS);
    assert.equal(unknown.chunked, true);
    assert.match(keptFields(unknown), /transfer-encoding: chunked\r\n$/);
    const none = requestHeadFromH2(post, true, LIMITS);
    assert.equal(none.chunked, false);
    assert.doesNotMatch(keptFields(none), /content-length|transfer-encoding/);
    assert.equal(requestHeadFromH2([...post, 'content-length', '0'], true, LIMITS).contentLength, 0);
    refused([...post, 'content-length', '5'], true, 400, /does not have/);
    refused([...post, 'content-length', '5', 'content-length', '6'], false, 400, /conflicting/);
    refused([...post, 'content-length', '-1'], false, 400, /Content-Length/);
  });

  it('refuses connection-specific fields, CONNECT, and what an HTTP/1 head could not carry', () => {
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) refused([...BASE, name, 'x'], true, 400, /connection-specific/);
    refused([':method', 'CONNECT', ':authority', 'h:443'], true, 501);
    refused([...BASE, ':protocol', 'websocket'], true, 501);
    refused([':method', 'GET', ':path', '/a b', ':scheme', 'https', ':authority', 'h'], true, 400, /:path/);
    refused([':method', 'GET', ':path', '/a\r\nx: y', ':scheme', 'https', ':authority', 'h'], true, 400, /:path/);
    refused([':method', 'GET', ':path', 'a', ':scheme', 'https', ':authority', 'h'], true, 400, /:path/);
    refused([':method', 'GET', ':scheme', 'https', ':authority', 'h'], true, 400, /:path/);
    refused([':method', 'G T', ':path', '/', ':scheme', 'https', ':authority', 'h'], true, 400, /:method/);
    refused([':method', 'GET', ':path', '/', ':scheme', 'https', ':authority', 'h h'], true, 400, /:authority/);
    refused([...BASE, 'x-a', 'one\x01two'], true, 400, /invalid character/);
    refused([...BASE, 'X-Upper', 'v'], true, 400, /header name/);
    refused([...BASE, ':weird', 'v'], true, 400, /pseudo-header/);
    assert.equal(requestHeadFromH2([':method', 'OPTIONS', ':path', '*', ':scheme', 'https', ':authority', 'h'], true, LIMITS).target, '*');
  });

  it('applies the frontend limits: 431 for too many or too large fields, 414 for a long target', () => {
    const many = Array.from({ length: 11 }, (_, i) => [`x-${i}`, 'v']).flat();
    refused([...BASE, ...many], true, 431, /more than 10/);
    refused([...BASE, 'x-big', 'v'.repeat(1000)], true, 431, /max_header_bytes/);
    refused([':method', 'GET', ':path', `/${'p'.repeat(100)}`, ':scheme', 'https', ':authority', 'h'], true, 414);
    assert.doesNotThrow(() => requestHeadFromH2([...BASE, ...many.slice(2)], true, LIMITS));
  });
});

describe('h2ResponseHeaders', () => {
  it('lower-cases names, lists repeats, drops connection-specific fields, keeps the first of a single-value one, adds extras', () => {
    const res = parseResponseHead(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n'
      + 'Connection: keep-alive, x-hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nContent-Type: text/html\r\nVary: a\r\nVary: b', 100,
    );
    const h = h2ResponseHeaders(res, [['strict-transport-security', 'max-age=1'], ['set-cookie', 'bwk_srv=x']]);
    assert.deepEqual({ ...h }, {
      ':status': 200, 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2', 'bwk_srv=x'], vary: ['a', 'b'],
      'strict-transport-security': 'max-age=1',
    });
  });

  it('keeps Content-Length (a HEAD answer or a length-framed body)', () => {
    const res = parseResponseHead('HTTP/1.1 404 Not Found\r\nContent-Length: 5', 100);
    assert.deepEqual({ ...h2ResponseHeaders(res, []) }, { ':status': 404, 'content-length': '5' });
  });

  it('canned answers: status, JSON, request id, extras, length', () => {
    assert.deepEqual({ ...cannedH2Headers(429, 'id1', 42, headerPairs('retry-after: 3\r\nstrict-transport-security: max-age=9\r\n')) }, {
      ':status': 429, 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': 'id1',
      'retry-after': '3', 'strict-transport-security': 'max-age=9', 'content-length': 42,
    });
  });

  it('headerPairs reads "name: value\\r\\n" lines', () => {
    assert.deepEqual(headerPairs(''), []);
    assert.deepEqual(headerPairs('Location: https://x/y:1\r\nA:b\r\n'), [['location', 'https://x/y:1'], ['a', 'b']]);
  });
});

describe('BodyFramer.onData (chunked bodies decoded for HTTP/2)', () => {
  it('yields exactly the chunk data, whatever the read boundaries', () => {
    const wire = Buffer.from('5\r\nhello\r\n1;ext=1\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n');
    for (let split = 1; split < wire.length; split++) {
      const f = new BodyFramer();
      f.reset('chunked');
      const out: Buffer[] = [];
      f.onData = (buf, from, to) => out.push(Buffer.from(buf.subarray(from, to)));
      const first = f.consume(wire.subarray(0, split), 0);
      assert.equal(first, split === wire.length ? wire.length : -1);
      const end = f.consume(wire.subarray(split), 0);
      assert.equal(end, wire.length - split, `split ${split}`);
      assert.equal(Buffer.concat(out).toString(), 'hello 0123456789abcdef', `split ${split}`);
      assert.equal(f.done, true);
    }
  });
});
