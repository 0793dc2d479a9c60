/**
 * HTTP/2 for TLS clients at the edge, with real clients (curl, openssl s_client, node's http2):
 * ALPN offers h2 before http/1.1; every stream is proxied like an HTTP/1 request (routing, round
 * robin, retries, limits, the firewall's rate limit and bans, forwarding headers, access log and
 * metrics) to HTTP/1.1 servers; bodies stream both ways; streams per connection are bounded;
 * shutdown is a GOAWAY that lets open streams finish; TLS sessions resume.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { ClusterCa } from '../../src/control-plane/certs/index.js';
import { CertificateStore } from '../../src/data-plane/tls/index.js';
import { AccessLog } from '../../src/observability/access-log.js';
import { HttpBackend, pattern, placeholderServer } from '../harness/backends.js';
import { lazyCheck, serverStatus, startEdge, type RunningEdge } from '../harness/edge-fixture.js';
import { eventually } from '../harness/eventually.js';
import { closeSession, h2Connect, h2Request, type H2Result } from '../harness/h2-client.js';
import { HOST } from '../harness/ports.js';

/** Probes /healthz once at start, then every 10 s: out of the way of the test. */
const QUIET_CHECK = { path: '/healthz', interval: '10s', timeout: '1s' };
const FLOODER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';

function run(file: string, args: string[], input = '', delayInputMs = 0): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 10_000, maxBuffer: 16 * 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
    // s_client reads TLS 1.3 session tickets after the handshake: give them time to arrive before "Q".
    setTimeout(() => child.stdin?.end(input), delayInputMs);
  });
}

function metric(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('HTTP/2 at the edge', { timeout: 180_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-h2-'));
  let ca: ClusterCa;
  let caPem: string;
  let a: HttpBackend;
  let b: HttpBackend;
  const store = new CertificateStore();

  // Extra answers both backends give: a chunked response, and the Cookie header they received.
  const extra = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): boolean => {
    if (req.url === '/chunked') {
      res.write('part1-');
      res.write('part2-');
      res.end('end');
      return true;
    }
    if (req.url === '/cookie') {
      res.end(req.headers.cookie ?? '');
      return true;
    }
    if (req.url?.startsWith('/one/slow')) {
      const timer = setTimeout(() => res.end('slow'), 300);
      res.once('close', () => clearTimeout(timer));
      return true;
    }
    return false;
  };

  before(async () => {
    ca = await ClusterCa.ensure(path.join(dir, 'pki'), 'h2-test');
    caPem = fs.readFileSync(ca.certPath, 'utf8');
    const issued = await ca.issue({ commonName: 'edge', names: [HOST, 'localhost'], usage: 'server', days: 90 });
    store.set([{ certPem: issued.certPem, keyPem: issued.keyPem, source: 'cluster CA' }]);
    a = await HttpBackend.start('a', extra);
    b = await HttpBackend.start('b', extra);
  });
  after(async () => {
    await a.close();
    await b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('one frontend, two servers', () => {
    let e: RunningEdge;
    let https: number;
    const registry = new Registry();
    const logPath = path.join(dir, 'access.log');
    let accessLog: AccessLog;

    before(async () => {
      accessLog = AccessLog.open(logPath);
      e = await startEdge((port) => ({
        tls: { source: 'local', hsts: '1d' },
        frontends: [{
          name: 'www', port, https_port: port + 1, default_backend: 'app',
          limits: { max_headers: 30, max_url_bytes: '1KiB', max_body_bytes: '1MiB' },
          routes: [{ path_prefix: '/one/', backend: 'one' }],
        }],
        backends: [
          { name: 'app', health_check: QUIET_CHECK, servers: [{ name: 'a', address: a.address }, { name: 'b', address: b.address }] },
          { name: 'one', health_check: QUIET_CHECK, servers: [{ name: 'a', address: a.address }] },
        ],
      }), { certificates: store, registry, accessLog });
      https = e.port + 1;
    });
    after(async () => {
      await e.stop();
      accessLog.close();
    });

    it('curl --http2 negotiates h2: the response, HSTS, and the forwarding headers the servers see', async () => {
      const r = await run('curl', ['-sS', '-D', '-', '--http2', '--cacert', ca.certPath, `https://${HOST}:${https}/hello?x=1`]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^HTTP\/2 200/);
      assert.match(r.out, /strict-transport-security: max-age=86400\r\n/);
      assert.match(r.out, /x-server: [ab]\r\n/);
      assert.doesNotMatch(r.out, /^(connection|keep-alive|transfer-encoding):/im);
      const seen = [...a.seen, ...b.seen].filter((s) => s.url === '/hello?x=1').at(-1)!;
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers.host, `${HOST}:${https}`, ':authority is the Host');
      assert.equal(seen.headers['x-forwarded-host'], `${HOST}:${https}`);
      assert.match(String(seen.headers['x-request-id']), /^[0-9a-f]{8}/);
      assert.equal(seen.headers['user-agent']?.startsWith('curl/'), true);
    });

    it('curl --http2 POSTs a body and gets it back', async () => {
      const body = randomBytes(200_000);
      const file = path.join(dir, 'post.bin');
      fs.writeFileSync(file, body);
      const out = path.join(dir, 'post.out');
      const r = await run('curl', ['-sS', '--http2', '--cacert', ca.certPath, '-o', out, '-w', '%{http_version} %{http_code}', '--data-binary', `@${file}`, `https://${HOST}:${https}/echo`]);
      assert.equal(r.out, '2 200');
      assert.ok(fs.readFileSync(out).equals(body), 'the echoed body differs');
    });

    it('curl --http1.1 still gets HTTP/1.1; plain HTTP is HTTP/1 only (no h2c)', async () => {
      const r = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '--http1.1', '--cacert', ca.certPath, `https://${HOST}:${https}/`]);
      assert.match(r.out, /^HTTP\/1\.1 200 OK/);
      const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--http2-prior-knowledge', '-H', 'host: x', `http://${HOST}:${e.port}/`]);
      assert.notEqual(plain.out.trim(), '2 308', `plain HTTP must not speak HTTP/2: ${plain.out}`);
    });

    it('openssl s_client: ALPN picks h2 when offered (our preference), http/1.1 otherwise', async () => {
      const alpn = async (offer: string): Promise<string> => {
        const r = await run('openssl', ['s_client', '-connect', `${HOST}:${https}`, '-servername', 'localhost', '-CAfile', ca.certPath, '-alpn', offer], 'Q\n');
        return /ALPN protocol: (\S+)/.exec(r.out)?.[1] ?? /No ALPN negotiated/.exec(r.out)?.[0] ?? r.out;
      };
      assert.equal(await alpn('h2'), 'h2');
      assert.equal(await alpn('http/1.1,h2'), 'h2');
      assert.equal(await alpn('http/1.1'), 'http/1.1');
      const none = await run('openssl', ['s_client', '-connect', `${HOST}:${https}`, '-CAfile', ca.certPath, '-alpn', 'spdy/3'], 'Q\n');
      assert.match(none.out, /no application protocol/, 'a client that offers neither is refused');
    });

    it("node's http2 client: GET, HEAD, POST with and without a length, big and chunked responses, cookie crumbs", async () => {
      const s = await h2Connect(https, { ca: caPem });
      try {
        const get = await h2Request(s, { ':path': '/hello', te: 'trailers' });
        assert.equal(get.status, 200);
        assert.match(get.text, /^[ab]$/);
        assert.equal(get.headers['strict-transport-security'], 'max-age=86400');
        const seen = [...a.seen, ...b.seen].filter((x) => x.url === '/hello').at(-1)!;
        assert.equal(seen.headers.te, undefined, 'te is hop-by-hop');

        const head = await h2Request(s, { ':path': '/hello', ':method': 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.body.length, 0);

        const body = randomBytes(300_000);
        const parts = [0, 1, 2, 3, 4].map((i) => body.subarray(i * 60_000, (i + 1) * 60_000));
        const withLength = await h2Request(s, { ':path': '/echo?length', ':method': 'POST', 'content-length': String(body.length) }, parts);
        assert.equal(withLength.status, 200);
        assert.ok(withLength.body.equals(body));
        const sentWithLength = [...a.seen, ...b.seen].find((x) => x.url === '/echo?length')!;
        assert.equal(sentWithLength.headers['content-length'], '300000');
        assert.equal(sentWithLength.headers['transfer-encoding'], undefined);

        const unknownLength = await h2Request(s, { ':path': '/echo?chunked', ':method': 'POST' }, parts);
        assert.equal(unknownLength.status, 200);
        assert.ok(unknownLength.body.equals(body));
        const sentChunked = [...a.seen, ...b.seen].find((x) => x.url === '/echo?chunked')!;
        assert.equal(sentChunked.headers['transfer-encoding'], 'chunked', 'a body of unknown length goes upstream chunked');
        assert.equal(sentChunked.headers['content-length'], undefined);

        const big = await h2Request(s, { ':path': '/big?bytes=3000000' });
        assert.equal(big.status, 200);
        assert.equal(big.body.length, 3_000_000);
        assert.ok(big.body.equals(pattern(0, 3_000_000)), 'the big body arrived altered');

        const chunked = await h2Request(s, { ':path': '/chunked' });
        assert.equal(chunked.text, 'part1-part2-end', 'chunk framing is decoded for HTTP/2');
        assert.equal(chunked.headers['transfer-encoding'], undefined);

        const cookies = await h2Request(s, { ':path': '/cookie', cookie: ['a=1', 'b=2'] });
        assert.equal(cookies.text, 'a=1; b=2', 'cookie crumbs are joined for HTTP/1.1');
      } finally {
        await closeSession(s);
      }
    });

    it('spreads concurrent streams of one connection over the servers', async () => {
      const before = metric(await registry.metrics(), /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.3",alpn="h2"\} (\d+)/);
      const s = await h2Connect(https, { ca: caPem });
      try {
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => h2Request(s, { ':path': `/spread/${i}` })));
        assert.deepEqual(results.map((r) => r.status), Array(40).fill(200));
        const byServer = { a: results.filter((r) => r.text === 'a').length, b: results.filter((r) => r.text === 'b').length };
        assert.ok(byServer.a >= 15 && byServer.b >= 15, `round robin over one connection: ${JSON.stringify(byServer)}`);
      } finally {
        await closeSession(s);
      }
      const afterCount = metric(await registry.metrics(), /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.3",alpn="h2"\} (\d+)/);
      assert.equal(afterCount - before, 1, 'all 40 requests went over one TLS connection');
    });

    it('bounds the streams one client has open (SETTINGS_MAX_CONCURRENT_STREAMS 100)', async () => {
      const s = await h2Connect(https, { ca: caPem });
      try {
        assert.equal(s.remoteSettings.maxConcurrentStreams, 100);
        a.maxInFlight = 0;
        const results = await Promise.all(Array.from({ length: 150 }, (_, i) => h2Request(s, { ':path': `/one/slow?ms=300&i=${i}` })));
        assert.deepEqual(results.map((r) => r.status), Array(150).fill(200));
        assert.ok(a.maxInFlight <= 100, `the server saw ${a.maxInFlight} requests at once from one connection`);
        assert.ok(a.maxInFlight >= 50, `streams did run concurrently (at most ${a.maxInFlight} at once)`);
      } finally {
        await closeSession(s);
      }
    });

    it('refuses what breaks the limits (431, 414, 413) stream by stream, and the connection carries on', async () => {
      const s = await h2Connect(https, { ca: caPem });
      try {
        const many: Record<string, string> = {};
        for (let i = 0; i < 40; i++) many[`x-h${i}`] = 'v';
        assert.equal((await h2Request(s, { ':path': '/many', ...many })).status, 431);
        assert.equal((await h2Request(s, { ':path': `/${'u'.repeat(2000)}` })).status, 414);
        const declared = await h2Request(s, { ':path': '/echo', ':method': 'POST', 'content-length': String(2 * 1024 * 1024) }, [Buffer.alloc(1000)]);
        assert.equal(declared.status, 413);
        assert.match(declared.text, /max_body_bytes/);
        const streamed = await h2Request(s, { ':path': '/echo', ':method': 'POST' }, Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024)));
        assert.equal(streamed.status, 413, `a body over the limit without a length: ${streamed.status} ${streamed.error ?? ''}`);
        assert.equal((await h2Request(s, { ':path': '/after' })).status, 200);
      } finally {
        await closeSession(s);
      }
    });

    it('counts and logs h2 requests like HTTP/1 ones; TLS metrics by version and ALPN; expiry in seconds', async () => {
      const text = await registry.metrics();
      assert.ok(metric(text, /bulwark_http_requests_total\{frontend="www",backend="one",server="a",code="2xx"\} (\d+)/) >= 150);
      assert.ok(metric(text, /bulwark_edge_refused_total\{frontend="www",reason="too-many-headers"\} (\d+)/) >= 1);
      assert.ok(metric(text, /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.3",alpn="h2"\} (\d+)/) >= 3);
      assert.ok(metric(text, /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.3",alpn="http\/1\.1"\} (\d+)/) >= 1);
      assert.ok(metric(text, /bulwark_tls_handshake_failures_total\{frontend="www",reason="no application protocol"\} (\d+)/) >= 1);
      const expiry = metric(text, /bulwark_tls_certificate_expiry_seconds\{certificate="127\.0\.0\.1",source="cluster CA"\} (-?\d+)/);
      assert.ok(expiry > 89 * 86_400 && expiry <= 90 * 86_400, `seconds until notAfter of a 90-day certificate: ${expiry}`);
      accessLog.flush();
      const lines = fs.readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const post = lines.find((l) => l.path === '/echo' && l.method === 'POST' && l.status === 200);
      assert.ok(post, 'an h2 POST is in the access log');
      assert.equal(post.frontend, 'www');
      assert.equal(post.client, '127.0.0.1');
      assert.ok(lines.some((l) => l.status === 414 && l.termination === 'url-too-long'));
    });

    it('resumes TLS sessions (tickets) for h2 clients, TLS 1.2 and 1.3', async () => {
      for (const v of ['tls1_2', 'tls1_3']) {
        const sess = path.join(dir, `session-${v}.pem`);
        const args = ['s_client', `-${v}`, '-connect', `${HOST}:${https}`, '-servername', 'localhost', '-CAfile', ca.certPath, '-alpn', 'h2'];
        const first = await run('openssl', [...args, '-sess_out', sess], 'Q\n', 300);
        assert.match(first.out, /^New, TLSv1\.[23]/m, first.out);
        const again = await run('openssl', [...args, '-sess_in', sess], 'Q\n', 300);
        assert.match(again.out, /^Reused, TLSv1\.[23]/m, `${v}: ${again.out}`);
        assert.match(again.out, /ALPN protocol: h2/);
      }
    });
  });

  it('a dead server costs idempotent h2 requests nothing: they are retried on the other one', async () => {
    const dead = await placeholderServer();
    const e = await startEdge((port) => ({
      tls: { source: 'local' },
      frontends: [{ name: 'www', port, https_port: port + 1, default_backend: 'app' }],
      backends: [{
        name: 'app', health_check: lazyCheck(), passive_health: { enabled: false },
        servers: [{ name: 'good', address: a.address }, { name: 'dead', address: `${HOST}:${dead.port}` }],
      }],
    }), { certificates: store });
    const s = await h2Connect(e.port + 1, { ca: caPem }).catch(async (err: unknown) => {
      await e.stop();
      throw err;
    });
    try {
      await eventually(() => assert.equal(serverStatus(e.edge, 'app', 'dead').check.state, 'up'));
      await dead.close(); // now refuses; the checker does not look again for an hour
      const results: H2Result[] = [];
      for (let round = 0; round < 10; round++) {
        results.push(...await Promise.all(Array.from({ length: 10 }, (_, i) => h2Request(s, { ':path': `/r/${round}/${i}` }))));
      }
      assert.deepEqual(results.map((r) => r.status), Array(100).fill(200));
      assert.ok(results.every((r) => r.text === 'a'));
      assert.ok(e.edge.status().backends[0]!.retries >= 25, `retries: ${e.edge.status().backends[0]!.retries}`);
      // A POST is not idempotent: never retried (503 when it lands on the dead server).
      const posts = await Promise.all(Array.from({ length: 10 }, (_, i) => h2Request(s, { ':path': `/p/${i}`, ':method': 'POST' }, [Buffer.from('x')])));
      assert.ok(posts.every((r) => r.status === 200 || r.status === 503), JSON.stringify(posts.map((r) => r.status)));
    } finally {
      await closeSession(s);
      await e.stop();
    }
  });

  it('the rate limit answers 429 per stream; a ban sends every open h2 connection of the client away (GOAWAY), then 403', async () => {
    const registry = new Registry();
    const e = await startEdge((port) => ({
      tls: { source: 'local' },
      frontends: [{
        name: 'www', port, https_port: port + 1, default_backend: 'app',
        firewall: { rate_limit: { rate: 2, burst: 4 }, ban: { after: 5, within: '10s', for: '1m' } },
      }],
      backends: [{ name: 'app', health_check: QUIET_CHECK, servers: [{ name: 'a', address: a.address }] }],
    }), { certificates: store, registry });
    const flood = await h2Connect(e.port + 1, { ca: caPem, localAddress: FLOODER });
    const calm = await h2Connect(e.port + 1, { ca: caPem, localAddress: NEIGHBOUR });
    // The flooder's second connection, idle through the flood: the ban reaches it too.
    const idle = await h2Connect(e.port + 1, { ca: caPem, localAddress: FLOODER });
    let goaway = false;
    let idleGoaway = false;
    flood.on('goaway', () => {
      goaway = true;
    });
    idle.on('goaway', () => {
      idleGoaway = true;
    });
    try {
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 20 && !goaway; i++) {
        const r = await h2Request(flood, { ':path': `/f/${i}` });
        statuses.push(r.status);
        if (r.status === 429) retryAfter ??= String(r.headers['retry-after']);
      }
      assert.deepEqual(statuses.slice(0, 4), [200, 200, 200, 200], `the burst is served: ${statuses.join(',')}`);
      assert.ok(statuses.includes(429), `then 429: ${statuses.join(',')}`);
      assert.match(retryAfter ?? '', /^\d+$/);
      // The ban sends every connection of the client away (GOAWAY), the one it was made on and
      // its idle one; a new connection is refused 403.
      await eventually(() => assert.ok(goaway, 'the banned client got a GOAWAY'));
      await eventually(() => assert.ok(idleGoaway, "the banned client's idle connection got a GOAWAY"), { timeoutMs: 1000 });
      const again = await h2Connect(e.port + 1, { ca: caPem, localAddress: FLOODER });
      try {
        assert.equal((await h2Request(again, { ':path': '/after' })).status, 403, 'then the ban');
      } finally {
        await closeSession(again);
      }
      assert.deepEqual(e.edge.bans(Date.now()).map((x) => x.client), [FLOODER]);
      // The neighbour on its own connection is untouched.
      for (let i = 0; i < 4; i++) assert.equal((await h2Request(calm, { ':path': `/n/${i}` })).status, 200);
      const text = await registry.metrics();
      assert.ok(metric(text, /bulwark_edge_refused_total\{frontend="www",reason="rate-limited"\} (\d+)/) >= 1);
      assert.equal(metric(text, /bulwark_edge_refused_total\{frontend="www",reason="ban"\} (\d+)/), 1);
    } finally {
      await closeSession(flood);
      await closeSession(calm);
      await closeSession(idle);
      await e.stop();
    }
  });

  it("a trusted proxy's h2 connection: the client it names is refused on its stream, the connection stays for the others", async () => {
    const e = await startEdge((port) => ({
      tls: { source: 'local' },
      frontends: [{
        name: 'www', port, https_port: port + 1, default_backend: 'app',
        firewall: { trusted_proxies: [`${NEIGHBOUR}/32`], deny: ['198.51.100.0/24'] },
      }],
      backends: [{ name: 'app', health_check: QUIET_CHECK, servers: [{ name: 'a', address: a.address }] }],
    }), { certificates: store });
    const proxy = await h2Connect(e.port + 1, { ca: caPem, localAddress: NEIGHBOUR });
    let goaway = false;
    proxy.on('goaway', () => {
      goaway = true;
    });
    try {
      assert.equal((await h2Request(proxy, { ':path': '/d', 'x-forwarded-for': '198.51.100.9' })).status, 403);
      assert.equal((await h2Request(proxy, { ':path': '/ok', 'x-forwarded-for': '192.0.2.30' })).status, 200);
      assert.equal(goaway, false, 'the proxy was sent away for one of its clients');
    } finally {
      await closeSession(proxy);
      await e.stop();
    }
  });

  it('graceful stop sends GOAWAY and lets open streams finish', async () => {
    const e = await startEdge((port) => ({
      tls: { source: 'local' },
      frontends: [{ name: 'www', port, https_port: port + 1, default_backend: 'app' }],
      backends: [{ name: 'app', health_check: QUIET_CHECK, servers: [{ name: 'a', address: a.address }] }],
    }), { certificates: store, graceMs: 5000 });
    const s = await h2Connect(e.port + 1, { ca: caPem });
    let goaway = false;
    s.on('goaway', () => {
      goaway = true;
    });
    try {
      const slow = Promise.all([h2Request(s, { ':path': '/slow?ms=700' }), h2Request(s, { ':path': '/slow?ms=500' })]);
      await eventually(() => assert.equal(a.inFlight, 2));
      const stopped = e.edge.stop(5000);
      await eventually(() => assert.ok(goaway, 'GOAWAY received'));
      const late = await h2Request(s, { ':path': '/late' });
      assert.notEqual(late.status, 200, 'no new stream after GOAWAY');
      const [r1, r2] = await slow;
      assert.equal(r1.status, 200);
      assert.equal(r1.text, 'a');
      assert.equal(r2.status, 200);
      await stopped;
    } finally {
      await closeSession(s);
      await e.stop();
    }
  });
});
