/**
 * The edge reads into reused buffers (`onread`): client connections share one read buffer, each
 * upstream connection has its own, tcp sessions share one. These tests drive the paths where
 * bytes from such a buffer must outlive the read that brought them (writes the kernel does not
 * take at once, partial heads, pipelined requests, bodies kept for a retry) and check that every
 * byte arrives intact; and the tcp timeouts kept on the shared coarse tick.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { eventually } from '../harness/eventually.js';
import { HttpBackend, RawBackend, echoServer, pattern } from '../harness/backends.js';
import { RawClient } from '../harness/raw-http.js';
import { lazyCheck, serverStatus, startEdge, type EdgeYaml } from '../harness/edge-fixture.js';
import { HOST } from '../harness/ports.js';

const QUIET_CHECK = { path: '/healthz', interval: '10s', timeout: '1s' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function httpEdge(port: number, servers: string[], frontend: Record<string, unknown> = {}): EdgeYaml {
  return {
    frontends: [{ name: 'www', port, default_backend: 'app', access_log: false, ...frontend }],
    backends: [{ name: 'app', servers: servers.map((address, i) => ({ name: `s${i + 1}`, address })), health_check: QUIET_CHECK }],
  };
}

function tcpEdge(port: number, servers: RawBackend[], frontend: Record<string, unknown> = {}): EdgeYaml {
  return {
    frontends: [{ name: 'tcp', mode: 'tcp', port, default_backend: 'echo', ...frontend }],
    backends: [{
      name: 'echo', mode: 'tcp', health_check: lazyCheck(),
      servers: servers.map((s, i) => ({ name: `e${i + 1}`, address: s.address })),
    }],
  };
}

/** A socket that collects everything it receives; `paused` stops reading (the kernel buffers fill). */
function collector(socket: net.Socket): { bytes: () => Buffer; closed: Promise<void> } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { bytes: () => Buffer.concat(chunks), closed };
}

describe('http: bytes read into reused buffers arrive intact', () => {
  test('a large response to a client that stops reading for a while', async (t) => {
    const a = await HttpBackend.start('a');
    t.after(() => a.close());
    const e = await startEdge((port) => httpEdge(port, [a.address]));
    t.after(() => e.stop());
    const n = 6 * 1024 * 1024;
    const c = await RawClient.connect(e.port);
    t.after(() => c.close());
    // Two requests on the connection: the upstream connection is pooled in between.
    for (let round = 0; round < 2; round++) {
      c.write(`GET /big?bytes=${n} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await sleep(50);
      c.socket.pause(); // the edge's writes to us stop completing; it keeps reading from the server meanwhile
      await sleep(300);
      c.socket.resume();
      const r = await c.readResponse({ timeoutMs: 15_000 });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, n);
      assert.ok(r.body.equals(pattern(0, n)), `round ${round}: body differs from what the server sent`);
    }
  });

  test('a response head split over many small reads, then its body, twice on one connection', async (t) => {
    const body = 'x'.repeat(50_000) + 'end';
    const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: ${'h'.repeat(3000)}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const server = await RawBackend.start((s) => {
      let got = '';
      s.on('data', async (d: Buffer) => {
        got += d.toString('latin1');
        while (got.includes('\r\n\r\n')) {
          got = got.slice(got.indexOf('\r\n\r\n') + 4);
          s.pause();
          for (let i = 0; i < head.length; i += 700) {
            s.write(head.slice(i, i + 700));
            await sleep(5);
          }
          s.write(body);
          s.resume();
        }
      });
    });
    t.after(() => server.close());
    const e = await startEdge((port) => httpEdge(port, [server.address]));
    t.after(() => e.stop());
    const c = await RawClient.connect(e.port);
    t.after(() => c.close());
    for (let i = 0; i < 2; i++) {
      const r = await c.readResponseAfter(`GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-long'], 'h'.repeat(3000));
      assert.equal(r.body.toString('latin1'), body);
    }
  });

  test('pipelined POSTs sent a few bytes at a time reach the server intact and are answered in order', async (t) => {
    const a = await HttpBackend.start('a');
    t.after(() => a.close());
    const e = await startEdge((port) => httpEdge(port, [a.address]));
    t.after(() => e.stop());
    const bodies = [randomBytes(3000), randomBytes(70_000), randomBytes(10)];
    const wire = Buffer.concat(bodies.flatMap((b, i) => [
      Buffer.from(`POST /echo?${i} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${b.length}\r\n\r\n`, 'latin1'), b,
    ]));
    const c = await RawClient.connect(e.port);
    t.after(() => c.close());
    // Odd-sized pieces: heads and bodies split anywhere, several requests in one piece.
    for (let i = 0, k = 0; i < wire.length; k++) {
      const size = [7, 1500, 33, 9000, 1][k % 5]!;
      c.write(wire.subarray(i, i + size));
      i += size;
      if (k % 3 === 0) await sleep(1);
    }
    for (let i = 0; i < bodies.length; i++) {
      const r = await c.readResponse({ timeoutMs: 10_000 });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-url'], `/echo?${i}`);
      assert.ok(r.body.equals(bodies[i]!), `body ${i} came back different`);
    }
    assert.deepEqual(a.hits().map((h) => h.url), ['/echo?0', '/echo?1', '/echo?2']);
  });

  test('a large upload to a server that reads slowly', async (t) => {
    // Reads nothing for 300 ms, then everything; answers with the body's length and hash.
    const server = await RawBackend.start((s) => {
      s.pause();
      setTimeout(() => s.resume(), 300);
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0); // 0: a health check
        if (buf.length < end + 4 + len) return;
        const digest = createHash('sha256').update(buf.subarray(end + 4, end + 4 + len)).digest('hex');
        const out = `${len} ${digest}`;
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${out.length}\r\n\r\n${out}`);
        buf = buf.subarray(end + 4 + len);
      });
    });
    t.after(() => server.close());
    const e = await startEdge((port) => httpEdge(port, [server.address]));
    t.after(() => e.stop());
    const body = randomBytes(5 * 1024 * 1024);
    const c = await RawClient.connect(e.port);
    t.after(() => c.close());
    c.write(Buffer.concat([Buffer.from(`PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]));
    const r = await c.readResponse({ timeoutMs: 15_000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `${body.length} ${createHash('sha256').update(body).digest('hex')}`);
  });
});

describe('tcp: reused read buffers and coarse-tick timeouts', () => {
  test('a client that stops reading for a while still gets every byte, both ways', async (t) => {
    const e1 = await echoServer();
    t.after(() => e1.close());
    const e = await startEdge((port) => tcpEdge(port, [e1]));
    t.after(() => e.stop());
    const socket = net.connect({ host: HOST, port: e.port });
    t.after(() => socket.destroy());
    const got = collector(socket);
    const data = randomBytes(8 * 1024 * 1024);
    socket.write(data);
    await sleep(50);
    socket.pause();
    await sleep(300);
    socket.resume();
    await eventually(() => assert.equal(got.bytes().length, data.length), { timeoutMs: 15_000 });
    assert.ok(got.bytes().equals(data), 'echoed bytes differ');
  });

  test('an idle pair is closed after timeouts.idle, traffic keeps it open', async (t) => {
    const e1 = await echoServer();
    t.after(() => e1.close());
    const e = await startEdge((port) => tcpEdge(port, [e1], { timeouts: { idle: '400ms' } }));
    t.after(() => e.stop());
    const socket = net.connect({ host: HOST, port: e.port });
    t.after(() => socket.destroy());
    const got = collector(socket);
    let closedAt = 0;
    void got.closed.then(() => (closedAt = Date.now()));
    // 1.2 s of traffic every 150 ms: never idle for 400 ms.
    let lastWrite = 0;
    for (let i = 0; i < 8; i++) {
      if (i > 0) await sleep(150);
      assert.equal(closedAt, 0, `closed while busy (after ${i} pings)`);
      socket.write(`ping ${i}\n`);
      lastWrite = Date.now();
    }
    await Promise.race([got.closed, sleep(3000)]);
    assert.ok(closedAt > 0, 'an idle connection was not closed');
    const idleFor = closedAt - lastWrite;
    // Never before the timeout (the echo came back a moment after the last write); at most two ticks late, plus slack.
    assert.ok(idleFor >= 400 && idleFor < 1500, `closed after ${idleFor} ms of silence (timeout 400 ms)`);
    assert.equal(got.bytes().toString(), Array.from({ length: 8 }, (_, i) => `ping ${i}\n`).join(''));
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').active, 0));
    await eventually(() => assert.equal(e1.active, 0));
  });
});
