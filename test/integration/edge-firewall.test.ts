/**
 * The edge firewall on a real edge, with clients on different loopback source addresses standing
 * for different hosts: a flood from one gets 429s, then a ban, while another is served without a
 * single error; CIDR lists; a connection cap; limit breaches that lead to a ban; tcp frontends.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Registry } from 'prom-client';
import { HttpBackend, echoServer, type RawBackend } from '../harness/backends.js';
import { edgeSpec, startEdge, type RunningEdge } from '../harness/edge-fixture.js';
import { request } from '../harness/http-client.js';
import { HOST } from '../harness/ports.js';

const FLOODER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';

describe('the edge firewall', { timeout: 60_000 }, () => {
  let backend: HttpBackend;
  let echo: RawBackend;
  let e: RunningEdge;
  const registry = new Registry();

  before(async () => {
    backend = await HttpBackend.start('a');
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
