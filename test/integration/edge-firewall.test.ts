/**
 * The edge firewall on a real edge, with clients on different loopback source addresses standing
 * for different hosts: a flood from one gets 429s, then a ban, while another is served without a
 * single error; CIDR lists; a connection cap; limit breaches that lead to a ban; tcp frontends.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { HttpBackend, echoServer, type RawBackend } from '../harness/backends.js';
import { OP, WsClient, attachWsEcho } from '../harness/ws.js';
import { edgeSpec, startEdge, type RunningEdge } from '../harness/edge-fixture.js';
import { request } from '../harness/http-client.js';
import { HOST } from '../harness/ports.js';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';

const FLOODER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';

describe('the edge firewall', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let echo: RawBackend;
  let e: RunningEdge;
  const registry = new Registry();

  before(async () => {
    backend = await HttpBackend.start('a');
    attachWsEcho(backend.server);
    echo = await echoServer();
    e = await startEdge((port) => ({
      frontends: [
        {
          name: 'www', port, default_backend: 'app',
          limits: { max_header_bytes: '2KiB' },
          firewall: {
            deny: ['127.0.0.4/32', '::ffff:127.0.0.4/128'], rate_limit: { rate: 20, burst: 10 }, max_connections_per_client: 3,
            ban: { after: 20, within: '10s', for: '1m' },
          },
        },
        { name: 'raw', mode: 'tcp', port: port + 1, default_backend: 'echo', firewall: { deny: ['127.0.0.4/32'], rate_limit: { rate: 1, burst: 2 } } },
      ],
      backends: [
        { name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] },
        { name: 'echo', mode: 'tcp', servers: [{ name: 'e', address: `${HOST}:${echo.port}` }] },
      ],
    }), { registry });
  });
  after(async () => {
    await e.stop();
    backend.server.closeAllConnections();
    backend.server.close();
    echo.close();
  });

  it('answers a flood with 429 + Retry-After, then bans it, while a neighbour is served without an error', async () => {
    const flood = new http.Agent({ keepAlive: true, maxSockets: 2, localAddress: FLOODER });
    const calm = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: NEIGHBOUR });
    const statuses: Record<number, number> = {};
    let retryAfter: string | undefined;
    const neighbour: number[] = [];
    // Bounded: 1.5 s (at most 5000 requests) of flood; the neighbour asks every ~60 ms meanwhile.
    let done = false;
    const calmLoop = (async () => {
      while (!done) {
        neighbour.push((await request(e.port, '/', { agent: calm, localAddress: NEIGHBOUR })).status);
        await new Promise((r) => setTimeout(r, 60));
      }
    })();
    const until = Date.now() + 1500;
    for (let i = 0; i < 5000 && Date.now() < until; i++) {
      const r = await request(e.port, '/', { agent: flood, localAddress: FLOODER }).catch(() => ({ status: 0, headers: {} as http.IncomingHttpHeaders }));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 429) retryAfter ??= r.headers['retry-after'] as string;
    }
    done = true;
    await calmLoop;
    flood.destroy();
    calm.destroy();
    assert.ok((statuses[200] ?? 0) >= 10, `the burst is served: ${JSON.stringify(statuses)}`);
    assert.ok((statuses[429] ?? 0) >= 20, `then 429s: ${JSON.stringify(statuses)}`);
    assert.ok((statuses[403] ?? 0) > 0, `then the ban: ${JSON.stringify(statuses)}`);
    assert.equal(retryAfter, '1');
    assert.ok(neighbour.length >= 10 && neighbour.every((s) => s === 200), `neighbour: ${neighbour.join(',')}`);
    const banned = e.edge.bans(Date.now());
    assert.deepEqual(banned.map((b) => [b.frontend, b.client]), [['www', FLOODER]]);
    const text = await registry.metrics();
    assert.match(text, /bulwark_edge_refused_total\{frontend="www",reason="rate-limited"\} [1-9]/);
    assert.match(text, /bulwark_edge_refused_total\{frontend="www",reason="ban"\} 1/);
    assert.match(text, /bulwark_edge_refused_total\{frontend="www",reason="banned"\} [1-9]/);
    // Lifted: served again.
    assert.deepEqual(e.edge.liftBan(FLOODER, Date.now()), ['www']);
    await new Promise((r) => setTimeout(r, 600)); // the bucket refills at 20/s
    assert.equal((await request(e.port, '/', { localAddress: FLOODER })).status, 200);
  });

  it('drops denied addresses with 403, on http and tcp', async () => {
    const r = await request(e.port, '/', { localAddress: '127.0.0.4' });
    assert.equal(r.status, 403);
    assert.match(r.text, /127\.0\.0\.4 is on the deny list/);
    const closed = await new Promise<string>((resolve) => {
      const s = net.connect({ host: HOST, port: e.port + 1, localAddress: '127.0.0.4' });
      s.on('data', () => resolve('data'));
      s.on('close', () => resolve('closed'));
      s.on('error', () => {});
      s.write('hello');
    });
    assert.equal(closed, 'closed');
  });

  it('caps open connections per client address', async () => {
    const sockets: net.Socket[] = [];
    const open = (): Promise<net.Socket> => new Promise((resolve) => {
      const s = net.connect({ host: HOST, port: e.port, localAddress: '127.0.0.6' }, () => resolve(s));
      sockets.push(s);
    });
    for (let i = 0; i < 3; i++) await open();
    const fourth = await open();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      fourth.on('data', (d) => (text += d));
      fourth.on('close', () => resolve(text));
      fourth.write(`GET / HTTP/1.1\r\nhost: x\r\n\r\n`);
    });
    assert.match(answer, /^HTTP\/1\.1 429 /);
    assert.match(answer, /more than 3 open connections/);
    for (const s of sockets) s.destroy();
  });

  it("a ban reaches the client's open connections: an idle keep-alive one and a WebSocket close at once, one mid-request finishes it and gets 403 next", async () => {
    const CLIENT = '127.0.0.9';
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: CLIENT });
    const busy = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: CLIENT });
    const via = (agent: http.Agent, path = '/'): Promise<{ status: number; socket: net.Socket; connection: string | undefined }> => new Promise((resolve, reject) => {
      http.get({ host: HOST, port: e.port, path, agent }, (res) => {
        const socket = res.socket; // the agent takes it back at the end
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, socket, connection: res.headers.connection }));
      }).on('error', reject);
    });
    const ws = await WsClient.connect(e.port, '/ws', undefined, CLIENT);
    const neighbour = await WsClient.connect(e.port, '/ws', undefined, '127.0.0.10');
    try {
      const first = await via(idle);
      assert.equal(first.status, 200);
      const idleClosed = new Promise((r) => first.socket.once('close', r));
      assert.equal((await via(busy)).status, 200);
      const inFlight = via(busy, '/slow?ms=3000'); // still in flight when the ban comes
      ws.send(OP.text, 'before');
      assert.equal((await ws.next()).payload.toString(), 'before');
      // Banned over other connections (oversized heads, or the connection cap) while these stay open.
      for (let i = 0; i < 20; i++) assert.ok([429, 431].includes((await request(e.port, '/', { localAddress: CLIENT, headers: { 'x-big': 'x'.repeat(3000) } })).status));
      assert.deepEqual(e.edge.bans(Date.now()).filter((b) => b.client === CLIENT).length, 1);
      await Promise.race([Promise.all([ws.closed, idleClosed]), new Promise((_, reject) => setTimeout(() => reject(new Error('the WebSocket or the idle connection is still open')), 1000))]);
      const answered = await inFlight;
      assert.equal(answered.status, 200, 'the request in flight at the ban is answered');
      const next = await via(busy);
      assert.deepEqual([next.status, next.socket.localPort, next.connection], [403, answered.socket.localPort, 'close'], 'refused on the same connection, which closes');
      neighbour.send(OP.text, 'still here');
      assert.equal((await neighbour.next()).payload.toString(), 'still here', "another client's WebSocket is untouched");
    } finally {
      idle.destroy();
      busy.destroy();
      ws.socket.destroy();
      neighbour.socket.destroy();
    }
  });

  it('counts limit breaches (431) towards a ban', async () => {
    const big = 'x'.repeat(3000);
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await request(e.port, '/', { localAddress: '127.0.0.7', headers: { 'x-big': big } })).status);
    assert.equal(statuses.filter((s) => s === 431).length, 20);
    assert.equal(statuses.at(-1), 403, 'banned after 20 refusals');
  });

  it('rate-limits new tcp connections', async () => {
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      results.push(await new Promise<string>((resolve) => {
        const s = net.connect({ host: HOST, port: e.port + 1, localAddress: '127.0.0.8' }, () => s.write('ping'));
        s.on('data', () => {
          resolve('echo');
          s.destroy();
        });
        s.on('close', () => resolve('closed'));
        s.on('error', () => {});
      }));
    }
    assert.deepEqual(results, ['echo', 'echo', 'closed', 'closed']);
  });

  it('changes its rules with a reload, keeping open connections and bans', async () => {
    const keep = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: NEIGHBOUR });
    /** Status and local port of a GET on the kept-alive connection. */
    const viaKeep = (): Promise<[number, number]> => new Promise((resolve, reject) => {
      http.get({ host: HOST, port: e.port, path: '/', agent: keep }, (res) => {
        const local = res.socket.localPort ?? 0;
        res.resume();
        res.on('end', () => resolve([res.statusCode ?? 0, local]));
      }).on('error', reject);
    });
    const [first, localPort] = await viaKeep();
    assert.equal(first, 200);
    const banned = e.edge.bans(Date.now()).map((b) => b.client);
    const next = edgeSpec({
      frontends: [
        { name: 'www', port: e.port, default_backend: 'app', firewall: { allow: ['127.0.0.1/32', `${NEIGHBOUR}/32`], ban: { after: 20, within: '10s', for: '1m' } } },
        { name: 'raw', mode: 'tcp', port: e.port + 1, default_backend: 'echo' },
      ],
      backends: [
        { name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] },
        { name: 'echo', mode: 'tcp', servers: [{ name: 'e', address: `${HOST}:${echo.port}` }] },
      ],
    });
    await e.edge.reload(next);
    // The allow list now applies to new connections; the open keep-alive one carries on.
    assert.equal((await request(e.port, '/', { localAddress: '127.0.0.4' })).status, 403);
    assert.deepEqual(await viaKeep(), [200, localPort], 'served on the same connection');
    assert.deepEqual(e.edge.bans(Date.now()).map((b) => b.client), banned, 'bans survive the reload');
    keep.destroy();
  });
});

describe('the PROXY protocol', { timeout: 30_000 }, () => {
  let backend: HttpBackend;
  let echo: RawBackend;
  let e: RunningEdge;
  const PROXY = '127.0.0.9';

  before(async () => {
    backend = await HttpBackend.start('a');
    attachWsEcho(backend.server);
    echo = await echoServer();
    const firewall = { trusted_proxies: [`${PROXY}/32`], deny: ['198.51.100.0/24'] };
    e = await startEdge((port) => ({
      frontends: [
        { name: 'www', port, default_backend: 'app', proxy_protocol: true, firewall },
        { name: 'raw', mode: 'tcp', port: port + 1, default_backend: 'echo', proxy_protocol: true, firewall },
      ],
      backends: [
        { name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] },
        { name: 'echo', mode: 'tcp', servers: [{ name: 'e', address: `${HOST}:${echo.port}` }] },
      ],
    }));
  });
  after(async () => {
    await e.stop();
    backend.server.closeAllConnections();
    backend.server.close();
    echo.close();
  });

  /** Send `bytes` from `from` and collect everything until the edge closes (or 2 s). */
  const exchange = (port: number, from: string, bytes: Buffer | string, until?: string): Promise<string> => new Promise((resolve) => {
    let text = '';
    const s = net.connect({ host: HOST, port, localAddress: from }, () => s.write(bytes));
    const t = setTimeout(() => s.destroy(), 2000);
    s.on('data', (d) => {
      text += d;
      if (until !== undefined && text.includes(until)) s.destroy();
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(text);
    });
    s.on('error', () => {});
  });
  const get = 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';

  it('uses the client a v1 or v2 header names (X-Forwarded-For, firewall)', async () => {
    const v1 = await exchange(e.port, PROXY, `PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\n${get}`);
    assert.match(v1, /^HTTP\/1\.1 200 OK/);
    assert.equal(backend.seen.at(-1)!.headers['x-forwarded-for'], '192.0.2.7');
    const v2 = Buffer.concat([
      Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x11, 0x00, 0x0c]),
      Buffer.from([203, 0, 113, 9, 127, 0, 0, 1, 0x15, 0xb3, 0x00, 0x50]), Buffer.from(get),
    ]);
    assert.match(await exchange(e.port, PROXY, v2), /^HTTP\/1\.1 200 OK/);
    assert.equal(backend.seen.at(-1)!.headers['x-forwarded-for'], '203.0.113.9');
    const denied = await exchange(e.port, PROXY, `PROXY TCP4 198.51.100.5 127.0.0.1 5555 80\r\n${get}`);
    assert.match(denied, /^HTTP\/1\.1 403 [\s\S]*198\.51\.100\.5 is on the deny list/);
  });

  it('refuses untrusted peers and malformed headers', async () => {
    assert.match(await exchange(e.port, '127.0.0.10', `PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\n${get}`), /^HTTP\/1\.1 403 [\s\S]*not a trusted proxy/);
    assert.match(await exchange(e.port, PROXY, get), /^HTTP\/1\.1 400 [\s\S]*does not start with a PROXY protocol header/);
  });

  it('tcp: strips the header, forwards the rest, and drops untrusted peers', async () => {
    assert.equal(await exchange(e.port + 1, PROXY, 'PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nping', 'ping'), 'ping');
    assert.equal(await exchange(e.port + 1, '127.0.0.10', 'PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nping'), '');
    assert.equal(await exchange(e.port + 1, PROXY, 'PROXY TCP4 198.51.100.5 127.0.0.1 5555 80\r\nping'), '', 'the named client is on the deny list');
  });
});

/**
 * Trusted proxies on a real edge: from 127.0.0.2 (trusted) X-Forwarded-For names the client that
 * lists, rates and bans apply to, request by request over its keep-alive connection; from 127.0.0.3
 * (not trusted) the same header is not believed and the peer is judged.
 */
describe('the edge firewall over IPv6', () => {
  let backend: HttpBackend;
  before(async () => {
    backend = await HttpBackend.start('a');
  });
  after(() => {
    backend.server.closeAllConnections();
    backend.server.close();
  });

  it('allow and deny lists match IPv6 clients (::1) on a frontend listening on both families', async () => {
    const e = await startEdge((port) => ({
      frontends: [
        { name: 'deny6', port, default_backend: 'app', firewall: { deny: ['::1/128'] } },
        { name: 'allow6', port: port + 1, default_backend: 'app', firewall: { allow: ['::1/128'] } },
        { name: 'net6', port: port + 2, default_backend: 'app', firewall: { deny: ['::/127'] } },
      ],
      backends: [{ name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] }],
    }), { bindHosts: [HOST, '::1'] });
    try {
      const status = async (host: string, port: number): Promise<number> => (await request(port, '/', { host })).status;
      assert.deepEqual([await status('::1', e.port), await status(HOST, e.port)], [403, 200], 'deny ::1/128: the IPv6 client refused, the IPv4 one served');
      assert.deepEqual([await status('::1', e.port + 1), await status(HOST, e.port + 1)], [200, 403], 'allow ::1/128 only');
      assert.equal(await status('::1', e.port + 2), 403, 'a prefix shorter than /128');
      const denied = await request(e.port, '/', { host: '::1' });
      assert.match(denied.text, /::1 is on the deny list/);
    } finally {
      await e.stop();
    }
  });
});

describe('trusted proxies: X-Forwarded-For', { timeout: 30_000 }, () => {
  const PROXY = '127.0.0.2';
  const UNTRUSTED = '127.0.0.3';
  let backend: HttpBackend;
  let e: RunningEdge;
  const registry = new Registry();

  before(async () => {
    backend = await HttpBackend.start('a');
    e = await startEdge((port) => ({
      frontends: [{
        name: 'www', port, default_backend: 'app',
        // 0.1/s: no token comes back while a test runs, so the statuses are exact.
        firewall: { trusted_proxies: [`${PROXY}/32`], deny: ['198.51.100.0/24'], rate_limit: { rate: 0.1, burst: 3 }, ban: { after: 3, within: '10s', for: '1m' } },
      }],
      backends: [{ name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] }],
    }), { registry });
  });
  after(async () => {
    await e.stop();
    backend.server.closeAllConnections();
    backend.server.close();
  });

  /** Status of a GET from `address` whose X-Forwarded-For is `xff`, on `agent`'s connection. */
  const from = async (address: string, xff: string, agent: http.Agent | false = false): Promise<number> =>
    (await request(e.port, '/', { agent, localAddress: address, headers: { 'x-forwarded-for': xff } })).status;
  /** bulwark_edge_refused_total{frontend="www",reason} so far. */
  const refused = async (reason: string): Promise<number> =>
    Number(new RegExp(`bulwark_edge_refused_total\\{frontend="www",reason="${reason}"\\} (\\d+)`).exec(await registry.metrics())?.[1] ?? 0);

  it('behind a trusted proxy judges the client it names: deny list, rate and ban per client, never the proxy', async () => {
    const proxy = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: PROXY });
    let connections = 0;
    const connect = proxy.createConnection.bind(proxy);
    proxy.createConnection = ((...args: Parameters<typeof connect>) => {
      connections++;
      return connect(...args);
    }) as typeof proxy.createConnection;
    try {
      const denied = await request(e.port, '/', { agent: proxy, localAddress: PROXY, headers: { 'x-forwarded-for': '198.51.100.5' } });
      assert.equal(denied.status, 403);
      assert.match(denied.text, /198\.51\.100\.5 is on the deny list/);
      assert.equal(await from(PROXY, '192.0.2.20', proxy), 200, 'another client behind the same proxy is served');
      assert.equal(backend.seen.at(-1)!.headers['x-forwarded-for'], '192.0.2.20, 127.0.0.2');
      // The rightmost address that is not a trusted proxy is the client: what a client writes
      // to the left of it (its own X-Forwarded-For) chooses nothing.
      assert.equal(await from(PROXY, '198.51.100.6, 192.0.2.21', proxy), 200);
      assert.equal(await from(PROXY, '192.0.2.22, 198.51.100.6', proxy), 403);
      assert.equal(await from(PROXY, `198.51.100.7, ${PROXY}`, proxy), 403, 'a chain of trusted proxies is skipped');
      // One client's bucket (burst 3), then 429s, then its ban (after 3 refusals).
      const a: number[] = [];
      for (let i = 0; i < 7; i++) a.push(await from(PROXY, '192.0.2.10', proxy));
      assert.deepEqual(a, [200, 200, 200, 429, 429, 429, 403]);
      assert.equal(await from(PROXY, '192.0.2.20', proxy), 200, 'its neighbour behind the proxy has a bucket of its own');
      assert.equal((await request(e.port, '/', { agent: proxy, localAddress: PROXY })).status, 200, 'the proxy is not charged for its clients');
      assert.deepEqual(e.edge.bans(Date.now()).map((b) => [b.frontend, b.client]), [['www', '192.0.2.10']]);
      assert.deepEqual([await refused('denied'), await refused('rate-limited'), await refused('ban'), await refused('banned')], [3, 3, 1, 1]);
      // The proxy's connection carries its other clients: refusing one of them never closed it.
      assert.equal(connections, 1, 'the proxy had to reconnect after one of its clients was refused');
    } finally {
      proxy.destroy();
    }
  });

  it('from an address that is not a trusted proxy ignores the header and judges the peer', async () => {
    // Not refused for sending it (that is the PROXY protocol's `untrusted-proxy`): the header is
    // passed on with the peer appended, and the peer's own standing decides.
    const rateLimited = await refused('rate-limited');
    assert.equal(await from(UNTRUSTED, '198.51.100.5'), 200, 'a deny-listed name from an untrusted peer is not believed');
    assert.equal(backend.seen.at(-1)!.headers['x-forwarded-for'], `198.51.100.5, ${UNTRUSTED}`);
    assert.equal(await from(UNTRUSTED, '192.0.2.10'), 200, 'nor is the name of a banned client');
    // Naming a new client each time does not buy a new bucket: the peer's burst of 3 is spent.
    assert.equal(await from(UNTRUSTED, '192.0.2.40'), 200);
    const limited = await request(e.port, '/', { localAddress: UNTRUSTED, headers: { 'x-forwarded-for': '192.0.2.41' } });
    assert.equal(limited.status, 429);
    assert.match(limited.text, /from 127\.0\.0\.3/, 'the refusal names the peer');
    assert.equal(await refused('untrusted-proxy'), 0);
    assert.equal(await refused('rate-limited'), rateLimited + 1);
  });
});

/**
 * A ban reaches open tcp sessions: a client that breaks the connection-rate limit until it is
 * banned loses the session it already had open, while another client's session carries on.
 */
describe('a ban on a tcp frontend', { timeout: 30_000 }, () => {
  const BANNED = '127.0.0.2';
  const OTHER = '127.0.0.3';
  let echo: RawBackend;
  let e: RunningEdge;
  const registry = new Registry();

  before(async () => {
    echo = await echoServer();
    e = await startEdge((port) => ({
      frontends: [{ name: 'raw', mode: 'tcp', port, default_backend: 'echo', firewall: { rate_limit: { rate: 1, burst: 2 }, ban: { after: 3, within: '10s', for: '1m' } } }],
      backends: [{ name: 'echo', mode: 'tcp', servers: [{ name: 'e', address: `${HOST}:${echo.port}` }] }],
    }), { registry });
  });
  after(async () => {
    await e.stop();
    await echo.close();
  });

  /** A tcp session from `address`, connected; `open` turns false when it closes. */
  const session = (address: string): Promise<{ socket: net.Socket; open: () => boolean }> => new Promise((resolve, reject) => {
    let open = true;
    const socket = net.connect({ host: HOST, port: e.port, localAddress: address }, () => resolve({ socket, open: () => open }));
    socket.on('close', () => (open = false));
    socket.on('error', reject);
  });
  /** Does `text` come back through the session (within 2 s)? */
  const echoes = (socket: net.Socket, text: string): Promise<boolean> => new Promise((resolve) => {
    let got = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes(text)) done(true);
    };
    const onClose = (): void => done(false);
    const timer = setTimeout(() => done(false), 2000);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(text);
  });
  /** A short connection from `address`: 'echo' when served, 'closed' when the edge drops it. */
  const attempt = async (address: string): Promise<string> => {
    const s = await session(address);
    const served = await echoes(s.socket, 'ping');
    s.socket.destroy();
    return served ? 'echo' : 'closed';
  };

  it("cuts the banned client's open session; another client's stays open; a lifted ban lets it back", async () => {
    const held = await session(BANNED);
    const other = await session(OTHER);
    try {
      assert.ok(await echoes(held.socket, 'one'));
      assert.ok(await echoes(other.socket, 'one'));
      // The second token of the burst, then three refusals: banned.
      const tries: string[] = [];
      for (let i = 0; i < 4; i++) tries.push(await attempt(BANNED));
      assert.deepEqual(tries, ['echo', 'closed', 'closed', 'closed']);
      assert.deepEqual(e.edge.bans(Date.now()).map((b) => [b.frontend, b.client]), [['raw', BANNED]]);
      await eventually(() => assert.equal(held.open(), false, 'the session opened before the ban is cut'), { timeoutMs: 3000 });
      assert.ok(other.open() && (await echoes(other.socket, 'two')), "the other client's session carries on");
      const text = await registry.metrics();
      assert.match(text, /bulwark_edge_refused_total\{frontend="raw",reason="ban"\} 1/);
      assert.match(text, /bulwark_edge_refused_total\{frontend="raw",reason="banned"\} 1/);
      // Lifted (what `bulwark firewall bans --lift` does): served again once a token is back (1/s).
      assert.deepEqual(e.edge.liftBan(BANNED, Date.now()), ['raw']);
      await new Promise((r) => setTimeout(r, 1100));
      const again = await session(BANNED);
      assert.ok(await echoes(again.socket, 'three'));
      assert.ok(again.open() && other.open(), 'lifting cuts nothing');
      again.socket.destroy();
    } finally {
      held.socket.destroy();
      other.socket.destroy();
    }
  });
});

/**
 * `bulwark firewall bans` through the real CLI and the lbs' agent APIs (mutual TLS): a ban made
 * by the edge is listed (table and --json), lifted with --lift (an IPv4-mapped spelling of the
 * address works), a bad address exits 2, and an lb that cannot be asked makes it exit 1, by name.
 */
describe('bulwark firewall bans', { timeout: 180_000 }, () => {
  const NET = '127.0.23';
  const EDGE_PORT = 18023;
  const BANNED = `${NET}.50`;
  const cluster = (extraLb: string): string => `
cluster: fw-bans
state_dir: state
agent: { port: 17723 }
nodes:
  - { name: lb-1,  role: lb,  address: ${NET}.1 }
${extraLb}  - { name: web-1, role: web, address: ${NET}.11 }
web:
${demoAppYaml(13023)}edge:
  vip: ${NET}.100
  frontends:
    - name: www
      port: ${EDGE_PORT}
      limits: { max_header_bytes: 1KiB }
      firewall: { ban: { after: 3, within: 10s, for: 10m } }
      routes: [ { path_prefix: /, backend: app } ]
  backends:
    - { name: app, health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }, servers: [ { node: web-1 } ] }
`;
  const c = tempCluster(cluster(''));
  // The same cluster with a second lb that is not running: `bans` cannot ask it.
  const withGhost = path.join(c.dir, 'with-ghost.yaml');
  const site = (opts: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<number> => new Promise((resolve, reject) => {
    http.get({ host: `${NET}.100`, port: EDGE_PORT, path: '/', agent: false, ...opts }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });

  before(async () => {
    fs.writeFileSync(withGhost, cluster(`  - { name: lb-2,  role: lb,  address: ${NET}.2 }\n`));
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    await eventually(async () => assert.equal(await site(), 200), { timeoutMs: 20_000, intervalMs: 250 });
    // Three oversized heads: banned.
    for (let i = 0; i < 3; i++) assert.equal(await site({ localAddress: BANNED, headers: { 'x-big': 'x'.repeat(2000) } }), 431);
    assert.equal(await site({ localAddress: BANNED }), 403);
  });
  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('lists the ban on each lb, as a table and as JSON', async () => {
    const r = await bulwark(['firewall', 'bans', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /LB\s+FRONTEND\s+CLIENT\s+BANNED UNTIL/);
    assert.match(r.stdout, new RegExp(`lb-1\\s+www\\s+${BANNED.replaceAll('.', '\\.')}\\s+\\d{4}-`));
    const j = await bulwark(['firewall', 'bans', '--json', '-c', c.file]);
    assert.equal(j.code, 0, j.stderr);
    const body = JSON.parse(j.stdout) as { bans: { lb: string; frontend: string; client: string }[]; unreachable: unknown[] };
    assert.deepEqual(body.bans.map((b) => [b.lb, b.frontend, b.client]), [['lb-1', 'www', BANNED]]);
    assert.deepEqual(body.unreachable, []);
  });

  it('exits 1 and names the lb it could not ask', async () => {
    const r = await bulwark(['firewall', 'bans', '-c', withGhost]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /lb-1\s+www/, 'the bans of the lb that answered are still listed');
    assert.match(r.stderr, /lb-2: could not list its bans/);
    const j = await bulwark(['firewall', 'bans', '--json', '-c', withGhost]);
    assert.equal(j.code, 1);
    assert.deepEqual((JSON.parse(j.stdout) as { unreachable: { lb: string }[] }).unreachable.map((u) => u.lb), ['lb-2']);
  });

  it('--lift refuses what is not an IP address, with exit 2', async () => {
    const r = await bulwark(['firewall', 'bans', '--lift', 'not-an-ip', '-c', c.file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--lift takes a client IP address \(IPv4 or IPv6\), not "not-an-ip"/);
  });

  it('--lift lifts it (given in IPv4-mapped IPv6 form), and the client is served again', async () => {
    const r = await bulwark(['firewall', 'bans', '--lift', `::FFFF:${BANNED}`, '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`lifted the ban on ${BANNED.replaceAll('.', '\\.')} on lb-1`));
    assert.equal(await site({ localAddress: BANNED }), 200);
    const after = await bulwark(['firewall', 'bans', '-c', c.file]);
    assert.match(after.stdout, /no client is banned/);
    const again = await bulwark(['firewall', 'bans', '--lift', BANNED, '-c', c.file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not banned on any lb/);
  });
});
