/**
 * The TCP (L4) edge end to end: a real Edge with a `mode: tcp` frontend in front of raw echo
 * servers on 127.0.0.1, driven by raw sockets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { eventually } from '../harness/eventually.js';
import { echoServer, placeholderServer, type RawBackend } from '../harness/backends.js';
import { lazyCheck, serverStatus, startEdge, type EdgeYaml } from '../harness/edge-fixture.js';
import { HOST } from '../harness/ports.js';

function tcpEdge(port: number, servers: RawBackend[], backend: Record<string, unknown> = {}): EdgeYaml {
  return {
    frontends: [{ name: 'tcp', mode: 'tcp', port, default_backend: 'echo' }],
    backends: [{
      name: 'echo', mode: 'tcp',
      servers: servers.map((s, i) => ({ name: `e${i + 1}`, address: s.address })),
      health_check: lazyCheck(),
      ...backend,
    }],
  };
}

/** An open connection through the edge that collects what comes back. */
class Conn {
  received: Buffer = Buffer.alloc(0);
  ended = false;
  readonly closed: Promise<void>;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => (this.received = Buffer.concat([this.received, c])));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      resolve();
    }));
  }

  static async open(port: number): Promise<Conn> {
    const socket = net.connect({ host: HOST, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Conn(socket);
  }

  /** Send `data` and wait until exactly that much has come back. */
  async roundTrip(data: Buffer): Promise<Buffer> {
    const start = this.received.length;
    this.socket.write(data);
    await eventually(() => {
      assert.equal(this.ended, false, 'connection closed before the echo came back');
      assert.ok(this.received.length >= start + data.length, `${this.received.length - start}/${data.length} bytes back`);
    }, { intervalMs: 5 });
    return this.received.subarray(start, start + data.length);
  }

  async close(): Promise<void> {
    this.socket.end();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2000))]);
    this.socket.destroy();
  }
}

async function echoOnce(port: number, data: Buffer = randomBytes(64)): Promise<void> {
  const c = await Conn.open(port);
  try {
    const back = await c.roundTrip(data);
    assert.ok(back.equals(data), 'echoed bytes differ');
  } finally {
    await c.close();
  }
}

describe('tcp frontend', () => {
  test('bytes round-trip intact, both small and 1 MiB, and the connection closes cleanly', async (t) => {
    const e1 = await echoServer();
    t.after(() => e1.close());
    const e = await startEdge((port) => tcpEdge(port, [e1]));
    t.after(() => e.stop());

    const c = await Conn.open(e.port);
    t.after(() => c.socket.destroy());
    const small = Buffer.from('hello\r\n\0binary\xff');
    assert.ok((await c.roundTrip(small)).equals(small));
    const big = randomBytes(1024 * 1024);
    assert.ok((await c.roundTrip(big)).equals(big), '1 MiB came back different');
    assert.equal(e.edge.status().frontends[0]!.connections, 1);
    await c.close();
    assert.equal(c.ended, true);
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').active, 0));
    await eventually(() => assert.equal(e1.active, 0));
  });

  test('bytes sent before the server connection is up are not lost', async (t) => {
    const e1 = await echoServer();
    t.after(() => e1.close());
    const e = await startEdge((port) => tcpEdge(port, [e1]));
    t.after(() => e.stop());
    const socket = net.connect({ host: HOST, port: e.port });
    t.after(() => socket.destroy());
    const data = randomBytes(4096);
    socket.write(data); // queued before connect
    let got = Buffer.alloc(0);
    socket.on('data', (ch: Buffer) => (got = Buffer.concat([got, ch])));
    await eventually(() => assert.equal(got.length, data.length));
    assert.ok(got.equals(data));
  });

  test('a client that half-closes still receives everything the server sends back', async (t) => {
    const e1 = await echoServer(); // echoes, then ends when the client has ended
    t.after(() => e1.close());
    const e = await startEdge((port) => tcpEdge(port, [e1]));
    t.after(() => e.stop());
    const c = await Conn.open(e.port);
    t.after(() => c.socket.destroy());
    const data = randomBytes(256 * 1024);
    c.socket.end(data); // send, then FIN
    await Promise.race([c.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed')), 3000))]);
    assert.equal(c.received.length, data.length, 'bytes lost after the client half-closed');
    assert.ok(c.received.equals(data));
  });

  test('roundrobin alternates connections between servers', async (t) => {
    const e1 = await echoServer();
    const e2 = await echoServer();
    t.after(() => e1.close());
    t.after(() => e2.close());
    const e = await startEdge((port) => tcpEdge(port, [e1, e2]));
    t.after(() => e.stop());
    for (let i = 0; i < 10; i++) await echoOnce(e.port);
    assert.equal(e1.talked, 5);
    assert.equal(e2.talked, 5);
  });

  test('leastconn spreads concurrent connections evenly', async (t) => {
    const e1 = await echoServer();
    const e2 = await echoServer();
    t.after(() => e1.close());
    t.after(() => e2.close());
    const e = await startEdge((port) => tcpEdge(port, [e1, e2], { balance: { policy: 'leastconn' } }));
    t.after(() => e.stop());
    const held: Conn[] = [];
    t.after(() => held.forEach((c) => c.socket.destroy()));
    for (let i = 0; i < 6; i++) {
      const c = await Conn.open(e.port);
      held.push(c);
      await c.roundTrip(Buffer.from(`conn ${i}`));
    }
    assert.equal(e1.active, 3);
    assert.equal(e2.active, 3);
    assert.equal(serverStatus(e.edge, 'echo', 'e1').active, 3);
    // Free two slots on one server: the next two connections go there.
    const onE1 = held.filter((_, i) => e1.text().includes(`conn ${i}`)).slice(0, 2);
    assert.equal(onE1.length, 2);
    for (const c of onE1) await c.close();
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').active, 1));
    const talkedBefore = e1.talked;
    for (let i = 0; i < 2; i++) {
      const c = await Conn.open(e.port);
      held.push(c);
      await c.roundTrip(Buffer.from(`more ${i}`));
    }
    assert.equal(e1.talked - talkedBefore, 2, 'leastconn picked the busier server');
  });

  test('a dead server (connection refused) is skipped: zero failed connections', async (t) => {
    const good = await echoServer();
    const dead = await placeholderServer();
    t.after(() => good.close());
    t.after(() => dead.close());
    const e = await startEdge((port) => tcpEdge(port, [good, dead], { passive_health: { enabled: false } }));
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e2').check.state, 'up'));
    await dead.close(); // refuses from now on; the health check does not look again for an hour
    for (let i = 0; i < 30; i++) await echoOnce(e.port);
    assert.equal(good.talked, 30);
    assert.ok(serverStatus(e.edge, 'echo', 'e2').total >= 10, 'the dead server was never tried');
    assert.equal(e.edge.status().backends[0]!.retries, serverStatus(e.edge, 'echo', 'e2').total, 'status counts the retries');
  });

  test('a server whose tcp health check fails is marked down and gets no connections; it returns', async (t) => {
    const e1 = await echoServer();
    const e2 = await echoServer();
    t.after(() => e1.close());
    t.after(() => e2.close());
    const e = await startEdge((port) =>
      tcpEdge(port, [e1, e2], { health_check: { type: 'tcp', interval: '100ms', timeout: '80ms', fall: 2, rise: 1 } }),
    );
    t.after(() => e.stop());
    await eventually(() => {
      for (const s of ['e1', 'e2']) assert.equal(serverStatus(e.edge, 'echo', s).check.state, 'up');
    });
    await e2.close();
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e2').up, false));
    assert.match(serverStatus(e.edge, 'echo', 'e2').check.detail, /ECONNREFUSED/);
    const retries = e.edge.status().backends[0]!.retries;
    for (let i = 0; i < 10; i++) await echoOnce(e.port);
    assert.equal(e1.talked, 10);
    assert.equal(e.edge.status().backends[0]!.retries, retries, 'a down server was still tried');

    await e2.reopen();
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e2').up, true));
    for (let i = 0; i < 4; i++) await echoOnce(e.port);
    assert.ok(e2.talked >= 1, 'traffic went back to the recovered server');
  });

  test('every server down: the client connection is closed, not left hanging', async (t) => {
    const dead = await placeholderServer();
    t.after(() => dead.close());
    const e = await startEdge((port) => tcpEdge(port, [dead], { passive_health: { enabled: false } }));
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').check.state, 'up'));
    await dead.close();
    const c = await Conn.open(e.port);
    t.after(() => c.socket.destroy());
    c.socket.write('anyone?');
    await Promise.race([c.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('still open')), 3000))]);
    assert.equal(c.received.length, 0);
  });

  test('on_marked_down shutdown-unreachable: sessions survive a server that answers 503, and are cut once it stops answering', async (t) => {
    const e1 = await echoServer();
    t.after(() => e1.close());
    // The server's health endpoint (like a db member's agent): 200, 503, or no answer at all.
    let mode: 'ok' | 'busy' | 'silent' = 'ok';
    const held = new Set<http.ServerResponse>();
    const check = http.createServer((_req, res) => {
      if (mode === 'silent') return void held.add(res);
      res.writeHead(mode === 'ok' ? 200 : 503).end();
    });
    await new Promise<void>((r) => check.listen(0, HOST, r));
    t.after(() => {
      for (const res of held) res.destroy();
      check.closeAllConnections();
      check.close();
    });
    const checkPort = (check.address() as net.AddressInfo).port;
    const e = await startEdge((port) => tcpEdge(port, [e1], {
      on_marked_down: 'shutdown-unreachable',
      health_check: { type: 'http', path: '/', port: checkPort, interval: '200ms', timeout: '150ms', rise: 1, fall: 1 },
    }));
    t.after(() => e.stop());
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').check.state, 'up'));
    const c = await Conn.open(e.port);
    t.after(() => c.socket.destroy());
    await c.roundTrip(Buffer.from('before'));

    mode = 'busy';
    await eventually(() => assert.equal(serverStatus(e.edge, 'echo', 'e1').up, false));
    // Several checks answer 503 while it is down: its session goes on.
    const downChecks = serverStatus(e.edge, 'echo', 'e1').check.detail;
    assert.match(downChecks, /HTTP 503/);
    await new Promise((r) => setTimeout(r, 400));
    assert.ok((await c.roundTrip(Buffer.from('while 503'))).equals(Buffer.from('while 503')));

    mode = 'silent';
    await Promise.race([c.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the session to an unanswering server was not cut')), 3000))]);
    assert.match(serverStatus(e.edge, 'echo', 'e1').check.detail, /timeout/);
  });
});
