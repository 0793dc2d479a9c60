/**
 * The real demo app (examples/demo-app/server.js) run by a real ChildSupervisor on 127.0.0.1:
 * its endpoints, its WebSocket echo, a crash and restart, and a graceful stop that drains.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { ChildSupervisor } from '../../src/node/supervisor.js';
import { eventually } from '../harness/eventually.js';
import { OP, WsClient } from '../harness/ws.js';

const HOST = '127.0.0.1';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const APP_DIR = path.join(ROOT, 'examples/demo-app');
const STOP_TIMEOUT_MS = 8000;

// ---------------------------------------------------------------------------------------------
// Helpers

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, HOST, resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no pooling, so nothing leaks between tests). */
function request(
  port: number,
  target: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port, path: target, method: opts.method ?? 'GET', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${target}`)));
    req.end(opts.body);
  });
}

async function getJson(port: number, target: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await request(port, target, { headers });
  assert.equal(res.status, 200, `${target} → ${res.status} ${res.body}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

/** A raw TCP connection that collects everything the server sends. */
class RawConnection {
  readonly socket: net.Socket;
  data = '';
  readonly closed: Promise<void>;
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (this.data += c));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }
  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, HOST);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawConnection(socket);
  }
}

// --- A minimal WebSocket client (RFC 6455): masked frames out, unmasked frames in. -----------

// ---------------------------------------------------------------------------------------------

describe('demo app under ChildSupervisor', () => {
  let port: number;
  let sup: ChildSupervisor;
  const stdoutLines: string[] = [];

  /** The app's own JSON log lines with this msg. */
  const appLog = (msg: string): Array<Record<string, unknown>> =>
    stdoutLines.flatMap((l) => {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        return o.msg === msg ? [o] : [];
      } catch {
        return [];
      }
    });

  before(async () => {
    port = await freePort();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_TEST_CONTEXT') env[k] = v;
    Object.assign(env, {
      PORT: String(port),
      HOST,
      BULWARK_NODE: 'web-it',
      BULWARK_CLUSTER: 'itest',
      DEMO_ALLOW_CRASH: '1',
    });
    const stdout = new PassThrough();
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => stdoutLines.push(...chunk.split('\n').filter((l) => l.length > 0)));
    sup = new ChildSupervisor({
      name: 'app',
      command: [process.execPath, 'server.js'],
      cwd: APP_DIR,
      env,
      backoff: { initialMs: 100, maxMs: 1000 },
      stopTimeoutMs: STOP_TIMEOUT_MS,
      clock: new SystemClock(),
      logger: silentLogger(),
      stdout,
    });
    sup.start();
    await eventually(() => getJson(port, '/api/whoami'), { timeoutMs: 10_000, message: 'the demo app did not come up' });
    assert.equal(sup.status().state, 'running');
  });

  after(async () => {
    await sup?.stop();
  });

  test('whoami names the node, cluster and port from the environment', async () => {
    const who = await getJson(port, '/api/whoami', { 'x-request-id': 'req-42', 'x-forwarded-for': '203.0.113.9' });
    assert.equal(who.node, 'web-it');
    assert.equal(who.cluster, 'itest');
    assert.equal(who.port, port);
    assert.equal(who.pid, sup.status().pid);
    assert.equal(who.requestId, 'req-42');
    assert.equal(who.forwardedFor, '203.0.113.9');
    assert.ok(!Number.isNaN(Date.parse(String(who.time))));
    const bare = await getJson(port, '/api/whoami');
    assert.equal(bare.requestId, null);
    assert.equal(bare.forwardedFor, null);
  });

  test('the app logged one JSON line when it started listening', () => {
    const listening = appLog('listening');
    assert.equal(listening.length, 1);
    assert.equal(listening[0]!.port, port);
  });

  test('healthz answers 200 ok; the page names the node', async () => {
    const health = await request(port, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok');
    const page = await request(port, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /web-it/);
    assert.match(page.body, /\/api\/whoami/);
  });

  test('echo returns the method, headers and body size', async () => {
    const body = Buffer.alloc(100_000, 'x');
    const res = await request(port, '/api/echo?x=1', {
      method: 'POST',
      headers: { 'x-forwarded-for': '198.51.100.7', 'x-request-id': 'abc', 'content-type': 'text/plain' },
      body,
    });
    assert.equal(res.status, 200);
    const echo = JSON.parse(res.body) as { node: string; method: string; url: string; headers: Record<string, string>; bodyBytes: number };
    assert.equal(echo.node, 'web-it');
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/api/echo?x=1');
    assert.equal(echo.headers['x-forwarded-for'], '198.51.100.7');
    assert.equal(echo.headers['x-request-id'], 'abc');
    assert.equal(echo.headers['host'], `${HOST}:${port}`);
    assert.equal(echo.bodyBytes, body.length);
    const get = JSON.parse((await request(port, '/api/echo')).body) as { method: string; bodyBytes: number };
    assert.equal(get.method, 'GET');
    assert.equal(get.bodyBytes, 0);
  });

  test('unknown paths → 404 JSON; wrong methods → 405 with Allow', async () => {
    const missing = await request(port, '/no/such/thing');
    assert.equal(missing.status, 404);
    assert.ok((JSON.parse(missing.body) as { error: string }).error);
    const wrong = await request(port, '/api/whoami', { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.match(String(wrong.headers['allow']), /GET/);
    assert.ok((JSON.parse(wrong.body) as { error: string }).error);
    const bad = await request(port, '/api/slow?ms=soon');
    assert.equal(bad.status, 400);
  });

  test('slow waits the asked time', async () => {
    const t0 = Date.now();
    const slow = await getJson(port, '/api/slow?ms=150');
    assert.equal(slow.node, 'web-it');
    assert.ok(Number(slow.waitedMs) >= 150);
    assert.ok(Date.now() - t0 >= 150);
  });

  test('WebSocket echo: text, binary, fragments, ping and close', async () => {
    const ws = await WsClient.connect(port);
    ws.send(OP.text, 'hello, bulwark ✓');
    let f = await ws.next();
    assert.deepEqual([f.fin, f.opcode, f.payload.toString()], [true, OP.text, 'hello, bulwark ✓']);

    const big = randomBytes(40_000); // 16-bit length form
    ws.send(OP.binary, big);
    f = await ws.next();
    assert.equal(f.opcode, OP.binary);
    assert.ok(f.payload.equals(big));

    ws.send(OP.text, 'frag', { fin: false });
    ws.send(OP.continuation, 'ment');
    f = await ws.next();
    assert.deepEqual([f.opcode, f.payload.toString()], [OP.text, 'fragment']);

    ws.send(OP.ping, 'are you there');
    f = await ws.next();
    assert.deepEqual([f.opcode, f.payload.toString()], [OP.pong, 'are you there']);

    ws.send(OP.close, Buffer.from([0x03, 0xe8])); // 1000
    f = await ws.next();
    assert.equal(f.opcode, OP.close);
    assert.equal(f.payload.readUInt16BE(0), 1000);
    await ws.closed;
  });

  test('WebSocket: an unmasked client frame is a protocol error (1002); other paths → 404', async () => {
    const ws = await WsClient.connect(port);
    ws.send(OP.text, 'naked', { mask: false });
    const f = await ws.next();
    assert.equal(f.opcode, OP.close);
    assert.equal(f.payload.readUInt16BE(0), 1002);
    await ws.closed;

    await assert.rejects(WsClient.connect(port, '/elsewhere'), /404/);
  });

  test('/api/crash exits the app; the supervisor restarts it and it serves again', async () => {
    const before = sup.status();
    assert.equal(before.restarts, 0);
    const res = await request(port, '/api/crash');
    assert.equal(res.status, 200);
    const after = await eventually(
      async () => {
        const s = sup.status();
        assert.equal(s.restarts, 1);
        assert.equal(s.state, 'running');
        const who = await getJson(port, '/api/whoami');
        assert.equal(who.pid, s.pid);
        return s;
      },
      { timeoutMs: 10_000, message: 'the app did not come back after /api/crash' },
    );
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.lastExit?.code, 1);
    assert.throws(() => process.kill(before.pid!, 0), { code: 'ESRCH' });
  });

  test('stop(): no new connections, healthz 503, in-flight requests finish, exit 0, no process left', async () => {
    const pid = sup.status().pid;
    assert.ok(pid);
    const ws = await WsClient.connect(port);

    // A request in flight: with flush=1 its head arrives at once and its body after the wait.
    const conn = await RawConnection.open(port);
    conn.socket.write(`GET /api/slow?ms=1500&flush=1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await eventually(() => assert.match(conn.data, /^HTTP\/1\.1 200 /));

    const t0 = Date.now();
    const stopped = sup.stop();
    await eventually(() => assert.equal(appLog('stopping').length, 1), { message: 'the app did not log its stop' });

    // The listener is closed…
    await assert.rejects(request(port, '/healthz'), { code: 'ECONNREFUSED' });
    // …a request that still reaches the app (pipelined on the busy connection) hears 503…
    conn.socket.write(`GET /healthz HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    // …and WebSockets are told the server is going away.
    const goingAway = await ws.next();
    assert.equal(goingAway.opcode, OP.close);
    assert.equal(goingAway.payload.readUInt16BE(0), 1001);
    ws.send(OP.close, Buffer.from([0x03, 0xe9]));

    await stopped;
    const took = Date.now() - t0;
    assert.ok(took < STOP_TIMEOUT_MS, `stop took ${took}ms`);
    await conn.closed;

    const responses = conn.data.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, conn.data);
    assert.match(responses[0]!, /\{"node":"web-it","waitedMs":\d+\}/, 'the in-flight request finished');
    assert.match(responses[1]!, /^HTTP\/1\.1 503 /);
    assert.match(responses[1]!, /shutting down$/);

    const s = sup.status();
    assert.equal(s.state, 'stopped');
    assert.equal(s.pid, undefined);
    assert.deepEqual([s.lastExit?.code, s.lastExit?.signal], [0, null], 'a graceful exit, not a SIGKILL');
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    await eventually(() => assert.equal(appLog('stopped')[0]?.how, 'drained'));
    await sup.stop(); // idempotent
  });
});
