import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { httpProbe, tcpProbe } from '../../src/data-plane/health/index.js';

interface Seen {
  path?: string;
  host?: string;
}

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: net.Server): Promise<void> {
  // Probes use connection: close, but a test failure could leave one open; never hang on it.
  (server as http.Server).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function statusServer(status: number, host = '127.0.0.1'): Promise<{ port: number; seen: Seen; server: http.Server }> {
  const seen: Seen = {};
  const server = http.createServer((req, res) => {
    seen.path = req.url;
    seen.host = req.headers.host;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('body\n');
  });
  return { port: await listen(server, host), seen, server };
}

/** A port nothing listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

const never = new AbortController().signal;

test('httpProbe: 200 passes, sends path and Host', async () => {
  const { port, seen, server } = await statusServer(200);
  try {
    const r = await httpProbe({ host: '127.0.0.1', port, path: '/healthz', timeoutMs: 2000, expectStatus: [] })(never);
    assert.equal(r.ok, true);
    assert.equal(r.detail, 'HTTP 200');
    assert.ok(r.durationMs >= 0 && r.durationMs < 2000);
    assert.equal(seen.path, '/healthz');
    assert.equal(seen.host, `127.0.0.1:${port}`);

    await httpProbe({ host: '127.0.0.1', port, path: '/', hostHeader: 'app.example', timeoutMs: 2000, expectStatus: [] })(never);
    assert.equal(seen.host, 'app.example');
  } finally {
    await close(server);
  }
});

test('httpProbe: 503 fails with the status as detail', async () => {
  const { port, server } = await statusServer(503);
  try {
    const r = await httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 2000, expectStatus: [] })(never);
    assert.deepEqual([r.ok, r.detail], [false, 'HTTP 503']);
  } finally {
    await close(server);
  }
});

test('httpProbe: expectStatus is an explicit list; empty means any 2xx/3xx', async () => {
  const s200 = await statusServer(200);
  const s204 = await statusServer(204);
  const s301 = await statusServer(301);
  const s404 = await statusServer(404);
  try {
    const probe = (port: number, expectStatus: number[]) =>
      httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 2000, expectStatus })(never);
    assert.equal((await probe(s200.port, [204])).ok, false);
    assert.equal((await probe(s204.port, [204])).ok, true);
    assert.equal((await probe(s404.port, [200, 404])).ok, true);
    assert.equal((await probe(s301.port, [])).ok, true);
    assert.equal((await probe(s404.port, [])).ok, false);
  } finally {
    await Promise.all([s200, s204, s301, s404].map((s) => close(s.server)));
  }
});

test('httpProbe and tcpProbe: connection refused on a closed port', async () => {
  const port = await closedPort();
  const h = await httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 2000, expectStatus: [] })(never);
  assert.deepEqual([h.ok, h.detail], [false, 'connect ECONNREFUSED']);
  const t = await tcpProbe({ host: '127.0.0.1', port, timeoutMs: 2000 })(never);
  assert.deepEqual([t.ok, t.detail], [false, 'connect ECONNREFUSED']);
});

test('httpProbe: a server that accepts but never answers times out within bounds', async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume(); // read the request, answer nothing
  });
  const port = await listen(server);
  try {
    const t0 = performance.now();
    const r = await httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 200, expectStatus: [] })(never);
    const took = performance.now() - t0;
    assert.deepEqual([r.ok, r.detail], [false, 'timeout after 200ms']);
    assert.ok(took >= 190 && took < 1500, `took ${took}ms`);
    assert.ok(r.durationMs >= 190 && r.durationMs < 1500, `durationMs ${r.durationMs}`);
    // The probe hung up rather than leaving the socket open.
    await waitFor(() => sockets.size === 0, 1000);
  } finally {
    await close(server);
  }
});

test('httpProbe: a response that never ends is judged on its status and its socket is closed', async () => {
  let serverSocketClosed = false;
  const server = http.createServer((req, res) => {
    req.socket.on('close', () => (serverSocketClosed = true));
    res.writeHead(200);
    res.write('partial');
    // never res.end()
  });
  const port = await listen(server);
  try {
    const r = await httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 200, expectStatus: [] })(never);
    assert.deepEqual([r.ok, r.detail], [true, 'HTTP 200']);
    await waitFor(() => serverSocketClosed, 1500);
  } finally {
    await close(server);
  }
});

test('tcpProbe: connects to a listening port and hangs up', async () => {
  let accepted = 0;
  let closed = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('close', () => closed++);
    s.resume();
  });
  const port = await listen(server);
  try {
    const r = await tcpProbe({ host: '127.0.0.1', port, timeoutMs: 2000 })(never);
    assert.deepEqual([r.ok, r.detail], [true, 'connected']);
    await waitFor(() => accepted === 1 && closed === 1, 1000);
  } finally {
    await close(server);
  }
});

test('probes honour the abort signal and never reject', async () => {
  const server = net.createServer((s) => s.resume());
  const port = await listen(server);
  try {
    const ctl = new AbortController();
    const pending = httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 5000, expectStatus: [] })(ctl.signal);
    setTimeout(() => ctl.abort(), 20);
    const r = await pending;
    assert.deepEqual([r.ok, r.detail], [false, 'aborted']);

    const aborted = AbortSignal.abort();
    assert.equal((await tcpProbe({ host: '127.0.0.1', port, timeoutMs: 5000 })(aborted)).detail, 'aborted');

    const bad = await httpProbe({ host: '127.0.0.1', port: 70000, path: '/', timeoutMs: 500, expectStatus: [] })(never);
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /^error /);
    const badTcp = await tcpProbe({ host: '127.0.0.1', port: -1, timeoutMs: 500 })(never);
    assert.equal(badTcp.ok, false);
  } finally {
    await close(server);
  }
});

test('probes work over IPv6 loopback', async (t) => {
  let ipv6 = true;
  const probeServer = net.createServer();
  try {
    await listen(probeServer, '::1');
  } catch {
    ipv6 = false;
  }
  if (ipv6) await close(probeServer);
  if (!ipv6) {
    t.skip('::1 not available');
    return;
  }
  const { port, seen, server } = await statusServer(200, '::1');
  try {
    const h = await httpProbe({ host: '::1', port, path: '/v6', timeoutMs: 2000, expectStatus: [200] })(never);
    assert.deepEqual([h.ok, h.detail], [true, 'HTTP 200']);
    assert.equal(seen.host, `[::1]:${port}`);
    const b = await httpProbe({ host: '[::1]', port, path: '/', timeoutMs: 2000, expectStatus: [] })(never);
    assert.equal(b.ok, true);
    const tc = await tcpProbe({ host: '::1', port, timeoutMs: 2000 })(never);
    assert.equal(tc.ok, true);
  } finally {
    await close(server);
  }
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > until) assert.fail(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
