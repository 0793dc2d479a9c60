/**
 * The HTTP edge end to end: a real Edge on 127.0.0.1 in front of real node:http and raw TCP
 * servers, driven by real clients (raw sockets where bytes matter, node:http elsewhere).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { eventually } from '../harness/eventually.js';
import { HttpBackend, RawBackend, pattern, placeholderServer, resettingServer } from '../harness/backends.js';
import { RawClient, rawRequest, type RawResponse } from '../harness/raw-http.js';
import { countBy, get200, request } from '../harness/http-client.js';
import { edgeSpec, fastCheck, lazyCheck, serverStatus, startEdge, type EdgeYaml, type RunningEdge } from '../harness/edge-fixture.js';
import { listenOnFreePort } from '../harness/ports.js';
import { OP, WsClient, attachWsEcho } from '../harness/ws.js';

/** Probes /healthz once at start, then every 10 s: out of the way of the test. */
const QUIET_CHECK = { path: '/healthz', interval: '10s', timeout: '1s' };

function srv(name: string, address: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, address, ...extra };
}

function be(name: string, servers: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, servers, health_check: QUIET_CHECK, ...extra };
}

function single(port: number, backend: Record<string, unknown>, frontend: Record<string, unknown> = {}): EdgeYaml {
  return { frontends: [{ name: 'www', port, default_backend: backend.name, ...frontend }], backends: [backend] };
}

function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  return p.then((value) => ({ value, ms: Date.now() - t0 }));
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('basic proxying', () => {
  let a: HttpBackend;
  let e: RunningEdge;
  before(async () => {
    a = await HttpBackend.start('a');
    e = await startEdge((port) => single(port, be('app', [srv('a', a.address)])));
  });
  after(async () => {
    await e?.stop();
    await a?.close();
  });

  test('GET: status, headers and body pass through both ways', async () => {
    const r = await request(e.port, '/hello?x=1', { headers: { 'x-custom': 'v1' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'a');
    assert.equal(r.headers['x-server'], 'a');
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.headers['content-length'], '1');
    const seen = a.hits('/hello?x=1');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'GET');
    assert.equal(seen[0]!.headers['x-custom'], 'v1');
    const teapot = await request(e.port, '/status/418');
    assert.equal(teapot.status, 418);
  });

  test('POST with Content-Length: the body reaches the server and comes back intact', async () => {
    const body = 'name=bulwark&' + 'x'.repeat(20_000);
    const r = await request(e.port, '/echo', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, body);
    const seen = a.hits('/echo').at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.headers['content-length'], String(body.length));
    assert.equal(seen.body.toString(), body);
  });

  test('POST chunked: the chunked body reaches the server intact, in one write or several', async () => {
    const c = await RawClient.connect(e.port);
    try {
      // Head and whole body in one write.
      c.write('POST /echo?one HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n');
      const r1 = await c.readResponse();
      assert.equal(r1.status, 200);
      assert.equal(r1.body.toString(), 'hello world');
      const s1 = a.hits('/echo?one')[0]!;
      assert.equal(s1.headers['transfer-encoding'], 'chunked');
      assert.equal(s1.body.toString(), 'hello world');

      // Head first; the body once the server has the head (so it streams after the head).
      c.write('POST /echo?two HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      await eventually(() => assert.ok(a.heads.includes('/echo?two')));
      c.write('4\r\ndefg\r\n');
      c.write('1a\r\n' + 'z'.repeat(26) + '\r\n0\r\nX-Trailer: t\r\n\r\n');
      const r2 = await c.readResponse();
      assert.equal(r2.status, 200);
      assert.equal(r2.body.toString(), 'abcdefg' + 'z'.repeat(26));
      assert.equal(a.hits('/echo?two')[0]!.body.toString(), 'abcdefg' + 'z'.repeat(26));
    } finally {
      c.close();
    }
  });

  test('a 5 MB response is streamed intact', async () => {
    const n = 5 * 1024 * 1024;
    const r = await request(e.port, `/big?bytes=${n}`, { timeoutMs: 10_000 });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(n));
    assert.equal(r.body.length, n);
    assert.ok(r.body.equals(pattern(0, n)), 'body differs from what the server sent');
  });

  test('HEAD: no body even with Content-Length, and the connection is reusable', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('HEAD /big?bytes=1000 HTTP/1.1\r\nHost: t\r\n\r\n');
      const h = await c.readResponse({ method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.headers['content-length'], '1000');
      c.write('GET /after-head HTTP/1.1\r\nHost: t\r\n\r\n');
      const g = await c.readResponse();
      assert.equal(g.status, 200);
      assert.equal(g.headers['x-url'], '/after-head');
      assert.equal(g.body.toString(), 'a');
      assert.equal(c.unread.length, 0, 'no stray bytes after the responses');
      assert.equal(c.isEnded, false);
    } finally {
      c.close();
    }
  });

  test('204 and 304 carry no body and keep the connection', async () => {
    const c = await RawClient.connect(e.port);
    try {
      for (const status of [204, 304, 204]) {
        c.write(`GET /status/${status} HTTP/1.1\r\nHost: t\r\n\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, status);
        assert.equal(r.body.length, 0);
      }
      c.write('GET /after-204 HTTP/1.1\r\nHost: t\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'a');
      assert.equal(c.unread.length, 0);
    } finally {
      c.close();
    }
  });

  test('keep-alive: several requests on one client connection, upstream connection pooled', async () => {
    const c = await RawClient.connect(e.port);
    const before = a.connections;
    try {
      for (let i = 0; i < 5; i++) {
        c.write(`GET /ka/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-url'], `/ka/${i}`);
        assert.equal(r.headers['connection'], undefined);
      }
      assert.equal(c.isEnded, false);
      assert.ok(a.connections - before <= 1, `upstream connections opened: ${a.connections - before}`);
    } finally {
      c.close();
    }
  });

  test('pipelining: two requests in one write get two responses in order', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('GET /slow?ms=150 HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n');
      const r1 = await c.readResponse();
      const r2 = await c.readResponse();
      assert.equal(r1.headers['x-url'], '/slow?ms=150');
      assert.equal(r2.headers['x-url'], '/second');
      // A request with a body followed by another one, in one write.
      c.write('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /third HTTP/1.1\r\nHost: t\r\n\r\n');
      const r3 = await c.readResponse();
      const r4 = await c.readResponse();
      assert.equal(r3.body.toString(), 'hello');
      assert.equal(r4.headers['x-url'], '/third');
      assert.equal(c.unread.length, 0);
    } finally {
      c.close();
    }
  });

  test('a 3 MB upload streams through to the server and back', async () => {
    const body = pattern(3, 3 * 1024 * 1024);
    const r = await request(e.port, '/echo?upload', { method: 'PUT', body, timeoutMs: 10_000 });
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(body), 'echoed upload differs');
    assert.ok(a.hits('/echo?upload')[0]!.body.equals(body), 'the server got a different body');
  });

  test('Expect: 100-continue: the interim 100 is relayed, then the body and the final response', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('POST /echo?expect HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.readResponse();
      assert.equal(interim.status, 100);
      c.write('hello');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'hello');
    } finally {
      c.close();
    }
  });

  test('Connection: close from the client: answered with connection: close, then closed', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['connection'], 'close');
      await c.waitEnded();
    } finally {
      c.close();
    }
  });

  test('a pooled connection the server closed while idle is not used for the next POST', async () => {
    a.server.keepAliveTimeout = 150;
    try {
      assert.equal((await request(e.port, '/echo', { method: 'POST', body: 'one' })).text, 'one');
      await eventually(() => assert.equal(a.openConnections, 0), { timeoutMs: 3000 });
      const r = await request(e.port, '/echo', { method: 'POST', body: 'two' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, 'two');
    } finally {
      a.server.keepAliveTimeout = 60_000;
    }
  });

  test('HTTP/1.0 request without Host is answered and the connection closed', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('GET /ten HTTP/1.0\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'a');
      await c.waitEnded();
    } finally {
      c.close();
    }
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('forwarded and hop-by-hop headers', () => {
  let a: HttpBackend;
  let raw: RawBackend;
  let e: RunningEdge;
  before(async () => {
    a = await HttpBackend.start('a');
    // Answers every request head with hop-by-hop headers that must not reach the client.
    raw = await RawBackend.start((s, self) => {
      let buf = '';
      s.on('data', (c: Buffer) => {
        self.received.push(c);
        buf += c.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
          buf = buf.slice(i + 4);
          s.write(
            'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, Bar\r\nKeep-Alive: timeout=5, max=100\r\n' +
              'Bar: y\r\nProxy-Connection: keep-alive\r\nX-Ok: 1\r\n\r\nok',
          );
        }
      });
    });
    e = await startEdge((port) => ({
      frontends: [{ name: 'www', port, default_backend: 'app', routes: [{ path_prefix: '/rawhop', backend: 'rawhop' }] }],
      backends: [be('app', [srv('a', a.address)]), be('rawhop', [srv('r', raw.address)])],
    }));
  });
  after(async () => {
    await e?.stop();
    await a?.close();
    await raw?.close();
  });

  test('x-forwarded-for/proto/host are set, x-request-id is generated', async () => {
    await request(e.port, '/fwd1', { headers: { host: 'shop.example:8080' } });
    await request(e.port, '/fwd1', { headers: { host: 'shop.example:8080' } });
    const [s1, s2] = a.hits('/fwd1');
    assert.equal(s1!.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(s1!.headers['x-forwarded-proto'], 'http');
    assert.equal(s1!.headers['x-forwarded-host'], 'shop.example:8080');
    assert.equal(s1!.headers.host, 'shop.example:8080');
    const id1 = String(s1!.headers['x-request-id']);
    const id2 = String(s2!.headers['x-request-id']);
    assert.match(id1, /^[0-9a-z]{8,}$/);
    assert.notEqual(id1, id2, 'request ids are unique');
  });

  test('existing x-forwarded-for is appended to, x-request-id passed through, spoofed proto/host replaced', async () => {
    await request(e.port, '/fwd2', {
      headers: {
        'x-forwarded-for': '203.0.113.7, 10.0.0.1', 'x-request-id': 'req-abc-123',
        'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example',
      },
    });
    const s = a.hits('/fwd2')[0]!;
    assert.equal(s.headers['x-forwarded-for'], '203.0.113.7, 10.0.0.1, 127.0.0.1');
    assert.equal(s.headers['x-request-id'], 'req-abc-123');
    assert.equal(s.headers['x-forwarded-proto'], 'http');
    assert.equal(s.headers['x-forwarded-host'], `127.0.0.1:${e.port}`);
    const names = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const h of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']) {
      assert.equal(names.filter((n) => n === h).length, 1, `${h} appears once`);
    }
  });

  test('hop-by-hop request headers are not forwarded', async () => {
    const r = await rawRequest(
      e.port,
      'GET /hop HTTP/1.1\r\nHost: t\r\nConnection: Foo, keep-alive\r\nFoo: x\r\nKeep-Alive: timeout=5\r\n' +
        'Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Keep: yes\r\n\r\n',
    );
    assert.equal(r.status, 200);
    const s = a.hits('/hop')[0]!;
    const names = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const h of ['foo', 'keep-alive', 'proxy-connection', 'te']) assert.ok(!names.includes(h), `${h} was forwarded: ${names}`);
    assert.ok(!/foo/i.test(String(s.headers.connection ?? '')), `connection: ${s.headers.connection}`);
    assert.equal(s.headers['x-keep'], 'yes');
  });

  test('hop-by-hop response headers are not copied to the client', async () => {
    const c = await RawClient.connect(e.port);
    try {
      for (let i = 0; i < 2; i++) {
        c.write(`GET /rawhop/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'ok');
        assert.equal(r.headers['x-ok'], '1');
        for (const h of ['keep-alive', 'bar', 'proxy-connection']) assert.equal(r.headers[h], undefined, `${h} leaked: ${r.head}`);
        assert.ok(!/keep-alive|bar/i.test(r.headers['connection'] ?? ''), r.head);
      }
      // node:http's own Connection: keep-alive / Keep-Alive headers are not copied either.
      c.write('GET /plain HTTP/1.1\r\nHost: t\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['keep-alive'], undefined, r.head);
      assert.equal(r.headers['connection'], undefined, r.head);
    } finally {
      c.close();
    }
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('misbehaving servers', () => {
  /** Answers each request head (no bodies expected) with the bytes scripted for its path. */
  const script: Record<string, (s: net.Socket) => void> = {
    '/badstatus': (s) => s.write('HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n'),
    '/bighead': (s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`),
    '/clte': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
    '/midclose': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'),
    '/closedelim': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the close'),
    '/extra': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK'),
    '/hints': (s) => s.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    '/ok': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  };
  let raw: RawBackend;
  let e: RunningEdge;
  before(async () => {
    raw = await RawBackend.start((s, self) => {
      let buf = '';
      s.on('data', (c: Buffer) => {
        self.received.push(c);
        buf += c.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
          const path = buf.slice(0, buf.indexOf('\r\n')).split(' ')[1]!;
          buf = buf.slice(i + 4);
          (script[path] ?? script['/ok']!)(s);
        }
      });
    });
    e = await startEdge((port) => single(port, be('app', [srv('raw', raw.address)], { health_check: lazyCheck(), passive_health: { enabled: false } })));
  });
  after(async () => {
    await e?.stop();
    await raw?.close();
  });

  test('a malformed status line or an oversized response head → 502, and the edge keeps serving', async () => {
    for (const path of ['/badstatus', '/bighead']) {
      const r = await rawRequest(e.port, `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(r.status, 502, path);
    }
    assert.equal((await rawRequest(e.port, 'GET /ok HTTP/1.1\r\nHost: t\r\n\r\n')).body.toString(), 'ok');
  });

  test('Content-Length with chunked from a server: chunked wins, Content-Length is not forwarded', async () => {
    const c = await RawClient.connect(e.port);
    try {
      const r = await c.readResponseAfter('GET /clte HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(r.body.toString(), 'hello');
      assert.equal(r.headers['content-length'], undefined, r.head);
      assert.equal((await c.readResponseAfter('GET /ok HTTP/1.1\r\nHost: t\r\n\r\n')).body.toString(), 'ok');
    } finally {
      c.close();
    }
  });

  test('a server closing mid-body: the client sees the connection cut, never a short complete response', async () => {
    const c = await RawClient.connect(e.port);
    try {
      c.write('GET /midclose HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.waitEnded(3000);
      const text = c.unread.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 100\r\n/i);
      assert.ok(text.endsWith('\r\n\r\n0123456789'), JSON.stringify(text));
    } finally {
      c.close();
    }
  });

  test('a close-delimited response reaches the client whole, marked connection: close', async () => {
    const c = await RawClient.connect(e.port);
    try {
      const r = await c.readResponseAfter('GET /closedelim HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(r.body.toString(), 'all of this, until the close');
      assert.equal(r.headers['connection'], 'close');
    } finally {
      c.close();
    }
  });

  test('bytes after the framed body are dropped and that server connection is not reused', async () => {
    const c = await RawClient.connect(e.port);
    try {
      const before = raw.connections;
      const r = await c.readResponseAfter('GET /extra HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(r.body.toString(), 'ok');
      const next = await c.readResponseAfter('GET /ok HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(next.body.toString(), 'ok');
      assert.equal(c.unread.length, 0, 'JUNK leaked to the client');
      assert.ok(raw.connections > before, 'the tainted connection was reused');
    } finally {
      c.close();
    }
  });

  test('an interim 103 is relayed before the final response', async () => {
    const c = await RawClient.connect(e.port);
    try {
      const hints = await c.readResponseAfter('GET /hints HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(hints.status, 103);
      assert.equal(hints.headers['link'], '</s.css>; rel=preload');
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'ok');
    } finally {
      c.close();
    }
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('bad input is refused with a clear status and the edge keeps serving', () => {
  let a: HttpBackend;
  let e: RunningEdge;
  before(async () => {
    a = await HttpBackend.start('a');
    e = await startEdge((port) =>
      single(port, be('app', [srv('a', a.address)]), {
        limits: { max_header_bytes: '4KiB', max_headers: 20, max_url_bytes: '1KiB', max_body_bytes: '1KiB' },
        timeouts: { request_header: '500ms' },
      }),
    );
  });
  after(async () => {
    await e?.stop();
    await a?.close();
  });

  /** The edge still answers a normal request, and no refused request reached the server. */
  async function stillServing(): Promise<void> {
    assert.equal(await get200(e.port, '/after'), 'a');
    const leaked = a.seen.filter((r) => r.url.startsWith('/bad') || r.url === '/admin');
    assert.deepEqual(leaked.map((r) => r.url), [], 'refused requests reached the server');
  }

  function assertRefused(r: RawResponse, expect: number[]): void {
    assert.ok(expect.includes(r.status), `expected ${expect.join(' or ')}, got ${r.status}: ${r.body.toString()}`);
    assert.equal(r.headers['connection'], 'close');
    const body = JSON.parse(r.body.toString()) as { status: number; message: string };
    assert.equal(body.status, r.status);
    assert.ok(body.message.length > 0);
  }

  const manyHeaders = Array.from({ length: 25 }, (_, i) => `X-H${i}: v\r\n`).join('');
  const cases: { name: string; bytes: string; expect: number[] }[] = [
    { name: 'Content-Length with Transfer-Encoding', expect: [400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
    { name: 'two different Content-Length', expect: [400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' },
    { name: 'Content-Length list', expect: [400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!' },
    { name: 'Transfer-Encoding: gzip, chunked', expect: [501, 400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' },
    { name: 'Transfer-Encoding: xchunked', expect: [501, 400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n' },
    { name: 'Transfer-Encoding twice', expect: [400, 501], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
    { name: 'space before the colon', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nHost: t\r\nX-Foo : bar\r\n\r\n' },
    { name: 'obs-fold', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nHost: t\r\nX-Foo: a\r\n  b\r\n\r\n' },
    { name: 'bare LF line endings', expect: [400], bytes: 'GET /bad HTTP/1.1\nHost: t\n\n' },
    { name: 'a bare LF inside a CRLF head', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n' },
    { name: 'NUL in a header value', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n' },
    { name: 'malformed request line (double space)', expect: [400], bytes: 'GET  /bad HTTP/1.1\r\nHost: t\r\n\r\n' },
    { name: 'malformed request line (HTTP/2.0)', expect: [400], bytes: 'GET /bad HTTP/2.0\r\nHost: t\r\n\r\n' },
    { name: 'malformed request line (garbage)', expect: [400], bytes: 'HELLO THERE\r\n\r\n' },
    { name: 'missing Host on HTTP/1.1', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nX-A: b\r\n\r\n' },
    { name: 'two Host headers', expect: [400], bytes: 'GET /bad HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n' },
    { name: 'head larger than max_header_bytes', expect: [431], bytes: `GET /bad HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n` },
    { name: 'more than max_headers fields', expect: [431], bytes: `GET /bad HTTP/1.1\r\nHost: t\r\n${manyHeaders}\r\n` },
    { name: 'URL longer than max_url_bytes', expect: [414], bytes: `GET /bad/${'u'.repeat(2000)} HTTP/1.1\r\nHost: t\r\n\r\n` },
    { name: 'Content-Length over max_body_bytes', expect: [413], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n' },
    {
      name: 'chunked body over max_body_bytes (arriving with the head)', expect: [413],
      bytes: `POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${'x'.repeat(1024)}\r\n400\r\n${'y'.repeat(1024)}\r\n0\r\n\r\n`,
    },
    { name: 'malformed chunk size', expect: [400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n' },
    { name: 'chunk data not followed by CRLF', expect: [400], bytes: 'POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n' },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.expect.join('/')}`, async () => {
      const client = await RawClient.connect(e.port);
      try {
        const { value: r, ms } = await timed(client.readResponseAfter(c.bytes));
        assertRefused(r, c.expect);
        assert.ok(ms < 400, `answered after ${ms}ms: refused at once, not by a timeout`);
        await client.waitEnded(2000);
      } finally {
        client.close();
      }
      await stillServing();
    });
  }

  test('an unterminated head over max_header_bytes → 431 at once', async () => {
    const client = await RawClient.connect(e.port);
    try {
      const { value: r, ms } = await timed(client.readResponseAfter(`GET /bad HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(6000)}`));
      assertRefused(r, [431]);
      assert.ok(ms < 400, `${ms}ms`);
    } finally {
      client.close();
    }
    await stillServing();
  });

  test('half a head and then nothing → 408 after timeouts.request_header', async () => {
    const client = await RawClient.connect(e.port);
    try {
      const { value: r, ms } = await timed(client.readResponseAfter('GET /bad/slow HTTP/1.1\r\nHost: t\r\n', 3000));
      assertRefused(r, [408]);
      assert.ok(ms >= 350 && ms < 1500, `408 after ${ms}ms (request_header is 500ms)`);
      await client.waitEnded(2000);
    } finally {
      client.close();
    }
    await stillServing();
  });

  test('malformed chunked body after the head was forwarded → 400 or closed, never a second request', async () => {
    const client = await RawClient.connect(e.port);
    try {
      client.write('POST /bad/late-chunk HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      await eventually(() => assert.ok(a.heads.includes('/bad/late-chunk')));
      client.write('3\r\nabcXX\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n');
      try {
        const r = await client.readResponse();
        assertRefused(r, [400]);
      } catch (err) {
        assert.ok(client.isEnded, `neither 400 nor closed: ${String(err)}`);
      }
      await client.waitEnded(2000);
    } finally {
      client.close();
    }
    await stillServing();
    assert.ok(!a.heads.includes('/admin'), 'the smuggled request reached the server');
  });

  test('CL+TE and TE+CL smuggling attempts: 400, and the server never sees /admin', async () => {
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: t\r\n\r\n';
    const clte = '0\r\n\r\n' + smuggled;
    const tecl = `${(smuggled.length).toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    for (const bytes of [
      `POST /bad/clte HTTP/1.1\r\nHost: t\r\nContent-Length: ${clte.length}\r\nTransfer-Encoding: chunked\r\n\r\n${clte}`,
      `POST /bad/tecl HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${tecl}`,
      `POST /bad/te-space HTTP/1.1\r\nHost: t\r\nContent-Length: ${clte.length}\r\nTransfer-Encoding : chunked\r\n\r\n${clte}`,
      `POST /bad/te-tab HTTP/1.1\r\nHost: t\r\nContent-Length: ${clte.length}\r\nTransfer-Encoding:\tchunked, identity\r\n\r\n${clte}`,
    ]) {
      const client = await RawClient.connect(e.port);
      try {
        const r = await client.readResponseAfter(bytes);
        assertRefused(r, [400, 501]);
        await client.waitEnded(2000);
        assert.equal(client.unread.length, 0, 'only one response');
      } finally {
        client.close();
      }
    }
    await stillServing();
    assert.ok(!a.heads.includes('/admin'), 'the smuggled request reached the server');
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('routing', () => {
  const names = ['api', 'apiv2', 'wild', 'static', 'fallback'] as const;
  const b: Record<string, HttpBackend> = {};
  let e: RunningEdge;
  before(async () => {
    for (const n of names) b[n] = await HttpBackend.start(n);
    e = await startEdge((port) => ({
      frontends: [
        {
          name: 'www', port, default_backend: 'fallback',
          routes: [
            { host: 'api.example.com', path_prefix: '/v2', backend: 'apiv2' },
            { host: 'api.example.com', backend: 'api' },
            { host: '*.example.com', backend: 'wild' },
            { path_prefix: '/static', backend: 'static' },
          ],
        },
        { name: 'strict', port: port + 1, routes: [{ host: 'only.example.com', backend: 'api' }] },
      ],
      backends: names.map((n) => be(n, [srv(n, b[n]!.address)])),
    }));
  });
  after(async () => {
    await e?.stop();
    for (const n of names) await b[n]?.close();
  });

  const cases: [host: string, path: string, backend: string][] = [
    ['api.example.com', '/', 'api'],
    ['API.Example.COM:8080', '/users', 'api'],
    ['api.example.com', '/v2/users', 'apiv2'],
    ['api.example.com', '/static/app.js', 'api'],
    ['shop.example.com', '/', 'wild'],
    ['a.b.example.com', '/v2', 'wild'],
    ['example.com', '/', 'fallback'],
    ['other.test', '/static/app.js', 'static'],
    ['other.test', '/elsewhere', 'fallback'],
  ];
  for (const [host, path, backend] of cases) {
    test(`${host}${path} → ${backend}`, async () => {
      assert.equal(await get200(e.port, path, { headers: { host } }), backend);
    });
  }

  test('no matching route and no default backend → 404, connection kept', async () => {
    const c = await RawClient.connect(e.port + 1);
    try {
      c.write('GET /x HTTP/1.1\r\nHost: nope.example.com\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 404);
      assert.match(r.body.toString(), /no route/);
      c.write('GET /y HTTP/1.1\r\nHost: only.example.com\r\n\r\n');
      const ok = await c.readResponse();
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), 'api');
    } finally {
      c.close();
    }
  });

  test('a 404 for a request with a body never treats the body as the next request', async () => {
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: only.example.com\r\n\r\n';
    const c = await RawClient.connect(e.port + 1);
    try {
      c.write(`POST /x HTTP/1.1\r\nHost: nope.example.com\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
      const r = await c.readResponse();
      assert.equal(r.status, 404);
      // Either the body is skipped and the connection stays usable, or the connection is closed.
      try {
        const next = await c.readResponse({ timeoutMs: 500 });
        assert.fail(`a second response came back: ${next.status} ${next.headers['x-url']}`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
      }
      c.write('GET /also-api HTTP/1.1\r\nHost: only.example.com\r\n\r\n');
      await c.readResponse({ timeoutMs: 1000 }).then(
        (ok) => assert.equal(ok.status, 200),
        () => assert.ok(c.isEnded, 'neither answered nor closed'),
      );
    } finally {
      c.close();
    }
    assert.equal(await get200(e.port + 1, '/z', { headers: { host: 'only.example.com' } }), 'api');
    assert.ok(!b.api!.heads.includes('/admin'), 'the body of a refused request was forwarded as a request');
  });

  test('a request pipelined behind a 404 is answered', async () => {
    const c = await RawClient.connect(e.port + 1);
    try {
      c.write('GET /x HTTP/1.1\r\nHost: nope.example.com\r\n\r\nGET /behind-404 HTTP/1.1\r\nHost: only.example.com\r\n\r\n');
      assert.equal((await c.readResponse()).status, 404);
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-url'], '/behind-404');
    } finally {
      c.close();
    }
  });

  test('the body of a 404 arriving after the response is not read as a request', async () => {
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: only.example.com\r\n\r\n';
    const c = await RawClient.connect(e.port + 1);
    try {
      c.write(`POST /x HTTP/1.1\r\nHost: nope.example.com\r\nContent-Length: ${smuggled.length}\r\n\r\n`);
      assert.equal((await c.readResponse()).status, 404);
      c.write(smuggled);
      await c.readResponse({ timeoutMs: 500 }).then(
        (r) => assert.fail(`the body was answered as a request: ${r.status} ${r.headers['x-url']}`),
        () => {},
      );
    } finally {
      c.close();
    }
    assert.equal(await get200(e.port + 1, '/z', { headers: { host: 'only.example.com' } }), 'api');
    assert.ok(!b.api!.heads.includes('/admin'), 'the body of a refused request was forwarded as a request');
  });

  test('a 404 honours Connection: close', async () => {
    const c = await RawClient.connect(e.port + 1);
    try {
      c.write('GET /x HTTP/1.1\r\nHost: nope.example.com\r\nConnection: close\r\n\r\n');
      const r = await c.readResponse();
      assert.equal(r.status, 404);
      assert.equal(r.headers['connection'], 'close');
      await c.waitEnded(2000);
    } finally {
      c.close();
    }
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('retries', () => {
  test('connection refused: idempotent GETs are retried on the other server, zero failures', async (t) => {
    const good = await HttpBackend.start('good');
    const dead = await placeholderServer();
    t.after(() => good.close());
    t.after(() => dead.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('good', good.address), srv('dead', dead.address)], {
        health_check: lazyCheck(), passive_health: { enabled: false },
      })),
    );
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'dead').check.state, 'up'));
    await dead.close(); // now refuses; the checker does not look again for an hour

    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await request(e.port, `/r/${i}`)).status);
    assert.deepEqual(countBy(statuses.map(String)), { 200: 200 });
    assert.equal(good.hits().filter((r) => r.url.startsWith('/r/')).length, 200);
    const st = e.edge.status().backends[0]!;
    assert.ok(st.retries >= 50, `retries: ${st.retries} (the dead server was not tried?)`);
  });

  test('a server that resets: GETs are retried, a POST is not (502) and reached it at most once', async (t) => {
    const good = await HttpBackend.start('good');
    const reset = await resettingServer();
    t.after(() => good.close());
    t.after(() => reset.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('good', good.address), srv('reset', reset.address)], {
        health_check: lazyCheck(), passive_health: { enabled: false },
      })),
    );
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'reset').check.state, 'up'));

    for (let i = 0; i < 40; i++) assert.equal(await get200(e.port, `/g/${i}`), 'good');
    assert.ok(reset.connections >= 10, `reset server saw ${reset.connections} connections`);
    assert.ok(reset.text().includes('GET /g/'), 'GETs were sent to the resetting server');

    const results: { id: number; status: number }[] = [];
    for (let id = 0; id < 12; id++) {
      const r = await request(e.port, `/post/${id}`, { method: 'POST', body: `payload-${id}` });
      results.push({ id, status: r.status });
    }
    const failed = results.filter((r) => r.status !== 200);
    assert.ok(failed.length > 0, 'some POSTs landed on the resetting server');
    for (const { id, status } of results) {
      const atReset = reset.text().split(`POST /post/${id} `).length - 1;
      const atGood = good.hits(`/post/${id}`).length;
      assert.ok(atReset <= 1, `POST ${id} reached the resetting server ${atReset} times`);
      if (status === 200) {
        assert.equal(atGood, 1);
        assert.equal(atReset, 0);
      } else {
        assert.equal(status, 502, `POST ${id}`);
        assert.equal(atGood, 0, `POST ${id} was retried on the good server`);
        assert.equal(atReset, 1);
      }
    }
  });

  test('the retry budget caps retries', async (t) => {
    const good = await HttpBackend.start('good');
    const dead = await placeholderServer();
    t.after(() => good.close());
    t.after(() => dead.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('good', good.address), srv('dead', dead.address)], {
        health_check: lazyCheck(), passive_health: { enabled: false },
        retries: { attempts: 2, budget_ratio: 0, min_per_second: 0.5 },
      })),
    );
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'dead').check.state, 'up'));
    await dead.close();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await request(e.port, `/b/${i}`)).status);
    const retries = e.edge.status().backends[0]!.retries;
    assert.ok(retries <= 5, `retries ${retries} exceed the budget of 0.5/s over 10 s`);
    assert.ok(statuses.filter((s) => s === 503).length >= 10, `statuses: ${JSON.stringify(countBy(statuses.map(String)))}`);
    assert.equal(statuses.filter((s) => s === 200).length + statuses.filter((s) => s === 503).length, 40);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('passive health', () => {
  test('consecutive connect failures eject the server; it is no longer tried', async (t) => {
    const good = await HttpBackend.start('good');
    const dead = await placeholderServer();
    t.after(() => good.close());
    t.after(() => dead.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('good', good.address), srv('dead', dead.address)], {
        health_check: lazyCheck(), passive_health: { consecutive_failures: 3, eject: '30s' },
      })),
    );
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'dead').check.state, 'up'));
    await dead.close();

    let sent = 0;
    while (!serverStatus(e.edge, 'app', 'dead').ejected && sent < 20) {
      assert.equal(await get200(e.port, `/p/${sent}`), 'good');
      sent++;
    }
    const st = serverStatus(e.edge, 'app', 'dead');
    assert.equal(st.ejected, true, `not ejected after ${sent} requests`);
    assert.equal(st.up, false);
    assert.equal(st.ejections, 1);
    assert.ok(sent >= 3 && sent <= 8, `ejected after ${sent} requests (3 failures needed)`);

    const total = st.total;
    const retries = e.edge.status().backends[0]!.retries;
    for (let i = 0; i < 20; i++) assert.equal(await get200(e.port, `/q/${i}`), 'good');
    assert.equal(serverStatus(e.edge, 'app', 'dead').total, total, 'the ejected server was tried again');
    assert.equal(e.edge.status().backends[0]!.retries, retries);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('active health', () => {
  test('a server failing its check goes down within fall × interval and comes back after rise', async (t) => {
    const h1 = await HttpBackend.start('h1');
    const h2 = await HttpBackend.start('h2');
    t.after(() => h1.close());
    t.after(() => h2.close());
    const interval = 200;
    const fall = 3;
    const rise = 2;
    const e = await startEdge((port) =>
      single(port, be('app', [srv('h1', h1.address), srv('h2', h2.address)], {
        health_check: fastCheck({ interval: `${interval}ms`, timeout: '150ms', fall, rise }),
      })),
    );
    t.after(() => e.stop());
    await eventually(() => {
      for (const s of ['h1', 'h2']) assert.equal(serverStatus(e.edge, 'app', s).check.state, 'up');
    });

    h1.health = 503;
    const down = await timed(eventually(() => assert.equal(serverStatus(e.edge, 'app', 'h1').up, false), { timeoutMs: 5000, intervalMs: 10 }));
    assert.ok(down.ms <= fall * interval + 500, `down after ${down.ms}ms (fall ${fall} × ${interval}ms)`);
    assert.ok(down.ms >= (fall - 1) * interval - 50, `down after only ${down.ms}ms`);
    assert.match(serverStatus(e.edge, 'app', 'h1').check.detail, /503/);
    const during = [];
    for (let i = 0; i < 10; i++) during.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(during), { h2: 10 });

    h1.health = 200;
    const up = await timed(eventually(() => assert.equal(serverStatus(e.edge, 'app', 'h1').up, true), { timeoutMs: 5000, intervalMs: 10 }));
    assert.ok(up.ms <= rise * interval + 500, `up after ${up.ms}ms (rise ${rise} × ${interval}ms)`);
    const after = [];
    for (let i = 0; i < 10; i++) after.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(after), { h1: 5, h2: 5 });
  });

  test('backup server: serves only while every primary is down, traffic returns to a primary', async (t) => {
    const p1 = await HttpBackend.start('p1');
    const p2 = await HttpBackend.start('p2');
    const bk = await HttpBackend.start('bk');
    t.after(() => p1.close());
    t.after(() => p2.close());
    t.after(() => bk.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('p1', p1.address), srv('p2', p2.address), srv('bk', bk.address, { backup: true })], {
        health_check: fastCheck({ interval: '100ms', timeout: '80ms', fall: 1, rise: 1 }),
      })),
    );
    t.after(() => e.stop());
    await eventually(() => {
      for (const s of ['p1', 'p2', 'bk']) assert.equal(serverStatus(e.edge, 'app', s).check.state, 'up');
    });
    const first = [];
    for (let i = 0; i < 10; i++) first.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(first), { p1: 5, p2: 5 });

    await p1.close();
    await p2.close();
    await eventually(() => {
      for (const s of ['p1', 'p2']) assert.equal(serverStatus(e.edge, 'app', s).up, false);
    });
    const onBackup = [];
    for (let i = 0; i < 10; i++) onBackup.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(onBackup), { bk: 10 });

    await p1.reopen();
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'p1').up, true));
    const back = [];
    for (let i = 0; i < 10; i++) back.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(back), { p1: 10 });
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('maxconn and queue', () => {
  test('maxconn 1: concurrent requests queue and all succeed, one at a time', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const e = await startEdge((port) => single(port, be('app', [srv('s', s.address, { maxconn: 1 })])));
    t.after(() => e.stop());
    let sawQueue = 0;
    const watching = setInterval(() => (sawQueue = Math.max(sawQueue, e.edge.status().backends[0]!.queue)), 5);
    t.after(() => clearInterval(watching));
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => request(e.port, `/slow?ms=60&i=${i}`)));
    clearInterval(watching);
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.equal(s.maxInFlight, 1);
    assert.ok(sawQueue >= 1, 'requests were queued');
  });

  test('a client that goes away frees its slot and its place in the queue', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const e = await startEdge((port) => single(port, be('app', [srv('s', s.address, { maxconn: 1 })])));
    t.after(() => e.stop());
    const holder = await RawClient.connect(e.port);
    holder.write('GET /never HTTP/1.1\r\nHost: t\r\n\r\n');
    await eventually(() => assert.equal(s.inFlight, 1));
    const waiter = await RawClient.connect(e.port);
    waiter.write('GET /queued-then-gone HTTP/1.1\r\nHost: t\r\n\r\n');
    await eventually(() => assert.equal(e.edge.status().backends[0]!.queue, 1));
    waiter.close();
    await eventually(() => assert.equal(e.edge.status().backends[0]!.queue, 0));
    holder.close();
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 's').active, 0));
    await eventually(() => assert.equal(s.inFlight, 0));
    assert.equal(await get200(e.port, '/after'), 's');
    assert.ok(!s.heads.includes('/queued-then-gone'), 'a request whose client left was still sent');
  });

  test('queue size 1 with a 300ms timeout: excess requests get 503 quickly', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('s', s.address, { maxconn: 1 })], { queue: { size: 1, timeout: '300ms' } })),
    );
    t.after(() => e.stop());
    const first = timed(request(e.port, '/slow?ms=900'));
    await eventually(() => assert.equal(s.inFlight, 1));
    const queued = timed(request(e.port, '/queued'));
    await eventually(() => assert.equal(e.edge.status().backends[0]!.queue, 1));
    const excess = await Promise.all([timed(request(e.port, '/x1')), timed(request(e.port, '/x2'))]);
    for (const x of excess) {
      assert.equal(x.value.status, 503);
      assert.match(x.value.text, /queue/);
      assert.ok(x.ms < 200, `queue-full 503 took ${x.ms}ms`);
    }
    const q = await queued;
    assert.equal(q.value.status, 503);
    assert.ok(q.ms >= 200 && q.ms < 800, `queue timeout 503 after ${q.ms}ms (timeout 300ms)`);
    assert.equal((await first).value.status, 200);
    assert.deepEqual(s.hits().map((r) => r.url), ['/slow?ms=900']);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('timeouts', () => {
  test('a server that never answers → 504 after timeouts.response_header', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const e = await startEdge((port) => single(port, be('app', [srv('s', s.address)], { timeouts: { response_header: '500ms' } })));
    t.after(() => e.stop());
    const r = await timed(request(e.port, '/never'));
    assert.equal(r.value.status, 504);
    assert.ok(r.ms >= 350 && r.ms < 1200, `504 after ${r.ms}ms (response_header 500ms)`);
    assert.equal(s.heads.filter((h) => h === '/never').length, 1, 'a timed-out request is not retried');
    assert.equal(await get200(e.port, '/after'), 's');
  });

  test('a server that stalls mid-body: the client connection is cut after timeouts.idle', async (t) => {
    const stall = await RawBackend.start((sock) => {
      sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
    });
    t.after(() => stall.close());
    const e = await startEdge((port) =>
      single(port, be('app', [srv('s', stall.address)], { health_check: lazyCheck(), timeouts: { idle: '500ms' } })),
    );
    t.after(() => e.stop());
    const c = await RawClient.connect(e.port);
    t.after(() => c.close());
    const t0 = Date.now();
    c.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
    await c.waitEnded(3000);
    const ms = Date.now() - t0;
    assert.ok(ms >= 350 && ms < 1500, `cut after ${ms}ms (idle 500ms)`);
    assert.match(c.unread.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n0123456789$/);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('drain', () => {
  test('a drained server finishes its in-flight request and takes no new ones; undo restores it', async (t) => {
    const s1 = await HttpBackend.start('s1');
    const s2 = await HttpBackend.start('s2');
    t.after(() => s1.close());
    t.after(() => s2.close());
    const spec = (port: number): EdgeYaml => single(port, be('app', [srv('s1', s1.address), srv('s2', s2.address)]));
    const e = await startEdge(spec);
    t.after(() => e.stop());

    const slow = request(e.port, '/slow?ms=500');
    const busy = await eventually(() => {
      const b = [s1, s2].find((s) => s.inFlight === 1);
      assert.ok(b);
      return b;
    });
    const other = busy === s1 ? s2 : s1;
    const changed = e.edge.drain(busy.name, true);
    assert.deepEqual(changed, [{ backend: 'app', server: busy.name, active: 1 }]);
    assert.equal(serverStatus(e.edge, 'app', busy.name).draining, true);
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await get200(e.port, '/'));
    await e.edge.reload(edgeSpec(spec(e.port))); // a drain survives a reload
    assert.equal(serverStatus(e.edge, 'app', busy.name).draining, true);
    for (let i = 0; i < 5; i++) during.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(during), { [other.name]: 10 });
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.text, busy.name);
    assert.equal(serverStatus(e.edge, 'app', busy.name).active, 0);

    e.edge.drain(busy.name, false);
    assert.equal(serverStatus(e.edge, 'app', busy.name).draining, false);
    const after = [];
    for (let i = 0; i < 10; i++) after.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(after), { s1: 5, s2: 5 });
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('reload', () => {
  test('reloads under keep-alive load lose no request', async (t) => {
    const s1 = await HttpBackend.start('s1');
    const s2 = await HttpBackend.start('s2');
    const s3 = await HttpBackend.start('s3');
    for (const s of [s1, s2, s3]) t.after(() => s.close());
    const specA = (port: number): EdgeYaml => single(port, be('app', [srv('s1', s1.address), srv('s2', s2.address)]));
    const specB = (port: number): EdgeYaml => ({
      frontends: [{ name: 'www', port, default_backend: 'app', routes: [{ path_prefix: '/b/', backend: 'other' }] }],
      backends: [be('app', [srv('s2', s2.address, { weight: 2 }), srv('s3', s3.address)]), be('other', [srv('s3', s3.address)])],
    });
    const e = await startEdge(specA);
    t.after(() => e.stop());

    const agents = Array.from({ length: 8 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    t.after(() => agents.forEach((a) => a.destroy()));
    let ok = 0;
    const failures: string[] = [];
    let clientsDone = false;
    const deadline = Date.now() + 2000;
    const clients = Promise.all(agents.map(async (agent, i) => {
      for (let n = 0; n < 400 && Date.now() < deadline; n++) {
        try {
          const r = await request(e.port, n % 3 === 0 ? `/b/${i}/${n}` : `/load/${i}/${n}`, { agent });
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.text}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    })).finally(() => (clientsDone = true));
    let reloads = 0;
    while (!clientsDone && reloads < 12) {
      const next = ok + 60;
      await eventually(() => assert.ok(ok >= next || clientsDone), { timeoutMs: 3000 });
      if (clientsDone) break;
      await e.edge.reload(edgeSpec(reloads % 2 === 0 ? specB(e.port) : specA(e.port)));
      reloads++;
    }
    await clients;
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed requests`);
    assert.ok(reloads >= 4, `only ${reloads} reloads happened`);
    assert.ok(ok >= 400, `only ${ok} requests`);
    assert.ok(s3.hits().length > 0 && s1.hits().length > 0, 'both configurations served');
  });

  test('requests queued at maxconn survive a reload', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const spec = (port: number, weight: number): EdgeYaml =>
      single(port, be('app', [srv('s', s.address, { maxconn: 1, weight })], { queue: { size: 10, timeout: '3s' } }));
    const e = await startEdge((port) => spec(port, 1));
    t.after(() => e.stop());
    const all = Promise.all(Array.from({ length: 4 }, (_, i) => timed(request(e.port, `/slow?ms=150&i=${i}`))));
    await eventually(() => assert.equal(e.edge.status().backends[0]!.queue, 3));
    await e.edge.reload(edgeSpec(spec(e.port, 2)));
    const results = await all;
    assert.deepEqual(results.map((r) => r.value.status), [200, 200, 200, 200]);
    for (const r of results) assert.ok(r.ms < 2000, `a queued request took ${r.ms}ms`);
    assert.equal(s.maxInFlight, 1);
  });

  test('a server marked down stays down across a reload', async (t) => {
    const s1 = await HttpBackend.start('s1');
    const s2 = await HttpBackend.start('s2');
    t.after(() => s1.close());
    t.after(() => s2.close());
    const spec = (port: number, interval: string, rise: number): EdgeYaml =>
      single(port, be('app', [srv('s1', s1.address), srv('s2', s2.address)], { health_check: fastCheck({ interval, timeout: '80ms', rise }) }));
    const e = await startEdge((port) => spec(port, '100ms', 1));
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 's2').check.state, 'up'));
    s1.health = 503;
    await eventually(() => assert.equal(serverStatus(e.edge, 'app', 's1').up, false));
    // Healthy again, but the new config wants 3 successes in a row and probes once an hour: a
    // server whose state was reset to unknown would be up after one probe; a kept one stays down.
    s1.health = 200;
    await e.edge.reload(edgeSpec(spec(e.port, '1h', 3)));
    const st = serverStatus(e.edge, 'app', 's1');
    assert.equal(st.up, false);
    assert.equal(st.check.state, 'down');
    await eventually(() => assert.match(serverStatus(e.edge, 'app', 's1').check.detail, /200/));
    const after = [];
    for (let i = 0; i < 6; i++) after.push(await get200(e.port, '/'));
    assert.deepEqual(countBy(after), { s2: 6 });
    assert.equal(serverStatus(e.edge, 'app', 's1').up, false);
  });

  test('stop and a reload that removes a frontend do not wait for idle keep-alive clients', async (t) => {
    const s = await HttpBackend.start('s');
    t.after(() => s.close());
    const two = (port: number): EdgeYaml => ({
      frontends: [{ name: 'www', port, default_backend: 'app' }, { name: 'old', port: port + 1, default_backend: 'app' }],
      backends: [be('app', [srv('s', s.address)])],
    });
    const e = await startEdge(two);
    t.after(() => e.stop());
    const idleOnOld = await RawClient.connect(e.port + 1);
    t.after(() => idleOnOld.close());
    assert.equal((await idleOnOld.readResponseAfter('GET / HTTP/1.1\r\nHost: t\r\n\r\n')).status, 200);
    const idleOnWww = await RawClient.connect(e.port);
    t.after(() => idleOnWww.close());
    assert.equal((await idleOnWww.readResponseAfter('GET / HTTP/1.1\r\nHost: t\r\n\r\n')).status, 200);

    const reload = await timed(e.edge.reload(edgeSpec(single(e.port, be('app', [srv('s', s.address)])))));
    assert.ok(reload.ms < 1000, `reload took ${reload.ms}ms`);
    await idleOnOld.waitEnded(1000);
    assert.equal(idleOnWww.isEnded, false);

    const stop = await timed(e.stop());
    assert.ok(stop.ms < 1000, `stop took ${stop.ms}ms (grace 200ms)`);
    await idleOnWww.waitEnded(1000);
  });

  test('a reload whose new frontend port is taken throws and the old config keeps serving', async (t) => {
    const s1 = await HttpBackend.start('s1');
    const s2 = await HttpBackend.start('s2');
    t.after(() => s1.close());
    t.after(() => s2.close());
    const blocker = net.createServer();
    const taken = await listenOnFreePort(blocker);
    t.after(() => new Promise<void>((r) => blocker.close(() => r())));
    const e = await startEdge((port) => ({
      frontends: [{ name: 'www', port, default_backend: 'app1' }],
      backends: [be('app1', [srv('s1', s1.address)], { passive_health: { consecutive_failures: 3 } })],
    }));
    t.after(() => e.stop());
    assert.equal(await get200(e.port, '/'), 's1');

    const bad = edgeSpec({
      frontends: [{ name: 'www', port: e.port, default_backend: 'app2' }, { name: 'extra', port: taken, default_backend: 'app1' }],
      backends: [
        be('app1', [srv('s1', s1.address, { weight: 7, maxconn: 3 })], { passive_health: { consecutive_failures: 9 } }),
        be('app2', [srv('s2', s2.address)]),
      ],
    });
    await assert.rejects(e.edge.reload(bad), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BWK_RELOAD_FAILED');
      assert.match(err.message, /in use/);
      return true;
    });
    for (let i = 0; i < 5; i++) assert.equal(await get200(e.port, '/'), 's1');
    const st = e.edge.status();
    assert.deepEqual(st.frontends.map((f) => f.name), ['www']);
    assert.deepEqual(st.backends.map((b) => b.name), ['app1']);
    const s = serverStatus(e.edge, 'app1', 's1');
    assert.equal(s.weight, 1, 'the failed reload changed a running server');

    // A good reload afterwards applies.
    await e.edge.reload(edgeSpec({ frontends: [{ name: 'www', port: e.port, default_backend: 'app2' }], backends: [be('app2', [srv('s2', s2.address)])] }));
    assert.equal(await get200(e.port, '/'), 's2');
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('websocket', () => {
  test('an upgrade passes through and frames echo both ways', async (t) => {
    const s = await HttpBackend.start('ws');
    attachWsEcho(s.server);
    t.after(() => s.close());
    const e = await startEdge((port) => single(port, be('app', [srv('ws', s.address)])));
    t.after(() => e.stop());

    const ws = await WsClient.connect(e.port, '/ws/chat?room=1');
    t.after(() => ws.close());
    assert.match(ws.responseHead, /^X-Upgrade-Path: \/ws\/chat\?room=1$/m);
    ws.send(OP.text, 'hello through the edge');
    const f1 = await ws.next();
    assert.equal(f1.opcode, OP.text);
    assert.equal(f1.payload.toString(), 'hello through the edge');
    const big = pattern(7, 40_000);
    ws.send(OP.binary, big);
    const f2 = await ws.next();
    assert.equal(f2.opcode, OP.binary);
    assert.ok(f2.payload.equals(big));
    ws.send(OP.ping, 'p');
    const f3 = await ws.next();
    assert.equal(f3.opcode, OP.pong);
    ws.send(OP.close, Buffer.from([0x03, 0xe8]));
    const f4 = await ws.next();
    assert.equal(f4.opcode, OP.close);
    await ws.closed;
    assert.equal(await get200(e.port, '/after-ws'), 'ws');
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe('sticky and hash balancing', () => {
  let s: HttpBackend[];
  let e: RunningEdge;
  before(async () => {
    s = [await HttpBackend.start('s1'), await HttpBackend.start('s2'), await HttpBackend.start('s3')];
    const servers = s.map((b) => srv(b.name, b.address));
    e = await startEdge((port) => ({
      frontends: [{ name: 'www', port, default_backend: 'sticky', routes: [{ path_prefix: '/hash', backend: 'hashed' }] }],
      backends: [
        be('sticky', servers, { balance: { policy: 'sticky', cookie: 'srv' } }),
        be('hashed', servers, { balance: { policy: 'hash', hash_on: 'header', hash_key: 'x-user' } }),
      ],
    }));
  });
  after(async () => {
    await e?.stop();
    for (const b of s ?? []) await b.close();
  });

  test('sticky: the response sets the cookie and a client sending it back stays on its server', async () => {
    const pinned = new Set<string>();
    for (let client = 0; client < 3; client++) {
      const first = await request(e.port, '/');
      assert.equal(first.status, 200);
      const setCookie = first.headers['set-cookie']?.[0] ?? '';
      const m = /^srv=([0-9a-f]{8}); Path=\/; HttpOnly; SameSite=Lax$/.exec(setCookie);
      assert.ok(m, `set-cookie: ${setCookie}`);
      pinned.add(first.text);
      for (let i = 0; i < 15; i++) {
        const r = await request(e.port, '/', { headers: { cookie: `theme=dark; srv=${m[1]}` } });
        assert.equal(r.text, first.text, `client ${client} moved from ${first.text} to ${r.text}`);
        assert.equal(r.headers['set-cookie'], undefined, 'cookie re-issued although it was valid');
      }
    }
    assert.equal(pinned.size, 3, 'new clients are spread');
    const junk = await request(e.port, '/', { headers: { cookie: 'srv=ffffffff' } });
    assert.match(junk.headers['set-cookie']?.[0] ?? '', /^srv=[0-9a-f]{8};/);
  });

  test('hash on header: each x-user value always lands on the same server', async () => {
    const placement = new Map<string, string>();
    for (let round = 0; round < 4; round++) {
      for (let u = 0; u < 20; u++) {
        const who = await get200(e.port, '/hash', { headers: { 'x-user': `user-${u}` } });
        const before = placement.get(`user-${u}`);
        if (before !== undefined) assert.equal(who, before, `user-${u} moved`);
        placement.set(`user-${u}`, who);
      }
    }
    assert.ok(new Set(placement.values()).size >= 2, `every user on one server: ${[...placement.values()]}`);
  });
});
