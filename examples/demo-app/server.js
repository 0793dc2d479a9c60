/**
 * The Bulwark demo application: what every `web` node runs as its supervised child.
 *
 * Plain Node (node:http only, no dependencies). Configuration comes from the environment:
 *   PORT             (required) port to listen on
 *   HOST             bind address (default 127.0.0.1)
 *   BULWARK_NODE     name of the node that runs this process (e.g. web-1)
 *   BULWARK_CLUSTER  name of the cluster
 *   DEMO_ALLOW_CRASH set to 1 to enable GET /api/crash
 *
 * Endpoints (see the route table below): `/`, `/api/whoami`, `/healthz`, `/api/slow?ms=N`,
 * `/api/echo`, `/api/crash`, and a WebSocket echo at `/ws`.
 *
 * Lifecycle: one JSON line on stdout when listening and one when stopped. SIGTERM (or SIGINT)
 * stops accepting connections, makes /healthz answer 503, lets in-flight requests finish, closes
 * WebSockets with 1001, and exits 0 — within DRAIN_DEADLINE_MS at the latest.
 */
import http from 'node:http';
import os from 'node:os';
import { createHash } from 'node:crypto';
import { registerNotes, closeNotes } from './notes.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const PORT = parsePort(process.env.PORT);
const HOST = process.env.HOST || '127.0.0.1';
const NODE = process.env.BULWARK_NODE || os.hostname();
const CLUSTER = process.env.BULWARK_CLUSTER || null;
const ALLOW_CRASH = process.env.DEMO_ALLOW_CRASH === '1';

/** After SIGTERM, whatever is still open after this long is cut (the supervisor waits ~10 s). */
const DRAIN_DEADLINE_MS = 9_000;
const SLOW_MAX_MS = 60_000;
/** Largest WebSocket message accepted (frames use the 7- or 16-bit length forms only). */
const WS_MAX_MESSAGE = 65_535;

function parsePort(text) {
  const port = Number(text);
  if (!text || !Number.isInteger(port) || port < 1 || port > 65_535) {
    log('error', `PORT must be an integer from 1 to 65535 (got ${JSON.stringify(text ?? null)})`);
    process.exit(1);
  }
  return port;
}

// ---------------------------------------------------------------------------------------------
// Logging: one JSON object per line (info on stdout, errors on stderr).

function log(level, msg, fields = {}) {
  const line = JSON.stringify({
    level,
    time: new Date().toISOString(),
    node: process.env.BULWARK_NODE || undefined,
    app: 'demo-app',
    pid: process.pid,
    msg,
    ...fields,
  });
  (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Routing: `route(method, pattern, handler)`; patterns may hold `:name` segments (params).
// A handler receives { req, res, url, params } and may be async; a thrown error becomes a 500.

const routes = [];

function route(method, pattern, handler) {
  const keys = [];
  const source = pattern
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        keys.push(seg.slice(1));
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  routes.push({ method, pattern, re: new RegExp(`^${source}$`), keys, handler });
}

/** → { route, params } | { allowed: string[] } (path known, method not) | undefined. */
function match(method, pathname) {
  const allowed = new Set();
  for (const r of routes) {
    const m = r.re.exec(pathname);
    if (!m) continue;
    if (r.method === method || (method === 'HEAD' && r.method === 'GET')) {
      const params = {};
      r.keys.forEach((key, i) => {
        params[key] = decodeURIComponent(m[i + 1]);
      });
      return { route: r, params };
    }
    allowed.add(r.method);
    if (r.method === 'GET') allowed.add('HEAD');
  }
  return allowed.size > 0 ? { allowed: [...allowed] } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Response helpers

function sendJson(res, status, body, headers = {}) {
  const data = `${JSON.stringify(body)}\n`;
  if (!res.headersSent) {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(data),
      'cache-control': 'no-store',
      ...headers,
    });
  }
  res.end(data);
}

function sendText(res, status, text, contentType = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** A request header as one string, or null. */
function header(req, name) {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

// ---------------------------------------------------------------------------------------------
// Routes

route('GET', '/', ({ res }) => {
  sendText(res, 200, renderPage(), 'text/html; charset=utf-8');
});

route('GET', '/favicon.ico', ({ res }) => {
  res.writeHead(204, { 'cache-control': 'max-age=86400' });
  res.end();
});

route('GET', '/healthz', ({ res }) => {
  if (shuttingDown) sendText(res, 503, 'shutting down');
  else sendText(res, 200, 'ok');
});

route('GET', '/api/whoami', ({ req, res }) => {
  sendJson(res, 200, {
    node: NODE,
    cluster: CLUSTER,
    pid: process.pid,
    port: PORT,
    time: new Date().toISOString(),
    requestId: header(req, 'x-request-id'),
    forwardedFor: header(req, 'x-forwarded-for'),
  });
});

route('GET', '/api/slow', async ({ res, url }) => {
  const raw = url.searchParams.get('ms') ?? '0';
  if (!/^\d{1,9}$/.test(raw)) {
    sendJson(res, 400, { error: 'ms must be a non-negative integer (milliseconds)' });
    return;
  }
  const ms = Math.min(Number(raw), SLOW_MAX_MS);
  // flush=1 sends the response head at once and the body after the wait: a client then knows
  // the request is in flight (used by drain tests). Without it the head waits too.
  if (url.searchParams.get('flush') === '1') {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.flushHeaders();
  }
  const started = Date.now();
  const completed = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve(false); // the client went away
    });
  });
  if (completed) sendJson(res, 200, { node: NODE, waitedMs: Date.now() - started });
});

async function echo({ req, res }) {
  let bodyBytes = 0;
  for await (const chunk of req) bodyBytes += chunk.length;
  sendJson(res, 200, { node: NODE, method: req.method, url: req.url, headers: req.headers, bodyBytes });
}
route('GET', '/api/echo', echo);
route('POST', '/api/echo', echo);

/** The whole request body, refusing more than `max` bytes. */
async function readBody(req, max) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > max) throw new Error(`body larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

registerNotes(route, { node: NODE, sendJson, readBody });

route('GET', '/api/crash', ({ res }) => {
  if (!ALLOW_CRASH) {
    sendJson(res, 403, { error: 'crashing is disabled; start the app with DEMO_ALLOW_CRASH=1' });
    return;
  }
  log('error', 'crashing on request (GET /api/crash): exiting with code 1');
  res.once('finish', () => setImmediate(() => process.exit(1)));
  sendJson(res, 200, { node: NODE, crashing: true }, { connection: 'close' });
});

// ---------------------------------------------------------------------------------------------
// HTTP server

/** Responses not yet finished (so a shutdown can mark them `Connection: close`). */
const inFlight = new Set();
/** Open WebSocket connections. */
const websockets = new Set();
let shuttingDown = false;

function parseTarget(target) {
  try {
    // Origin-form (`/path?q`) is appended to a dummy origin so `//x` stays a path.
    return target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target);
  } catch {
    return undefined;
  }
}

async function onRequest(req, res) {
  inFlight.add(res);
  res.once('close', () => {
    inFlight.delete(res);
    // A connection whose last response just ended is idle now: close it during a shutdown.
    if (shuttingDown) setImmediate(() => server.closeIdleConnections());
  });
  res.setHeader('x-served-by', NODE);
  if (shuttingDown) res.setHeader('connection', 'close');

  const url = parseTarget(req.url ?? '');
  if (!url) {
    sendJson(res, 400, { error: 'bad request target' });
    return;
  }
  let found;
  try {
    found = match(req.method, url.pathname);
  } catch {
    sendJson(res, 400, { error: 'bad percent-encoding in path' });
    return;
  }
  if (!found) {
    sendJson(res, 404, { error: `not found: ${url.pathname}` });
    return;
  }
  if (found.allowed) {
    sendJson(res, 405, { error: `method ${req.method} not allowed on ${url.pathname}` }, { allow: found.allowed.join(', ') });
    return;
  }
  try {
    await found.route.handler({ req, res, url, params: found.params });
  } catch (err) {
    if (req.destroyed || res.destroyed) return; // the client went away mid-request
    log('error', `${req.method} ${url.pathname} failed: ${err?.stack ?? err}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    else res.destroy();
  }
}

const server = http.createServer(onRequest);
server.keepAliveTimeout = 65_000;
server.on('upgrade', onUpgrade);
server.on('error', (err) => {
  log('error', `cannot listen on ${HOST}:${PORT}: ${err.message}`, { code: err.code });
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  log('info', 'listening', { host: HOST, port: PORT, cluster: CLUSTER, url: `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}/` });
});

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  const started = Date.now();
  const inFlightAtStop = inFlight.size;
  const websocketsAtStop = websockets.size;

  let finished = false;
  const finish = (how) => {
    if (finished) return;
    finished = true;
    log('info', 'stopped', { signal, how, tookMs: Date.now() - started });
    process.exit(0);
  };

  server.close(() => finish('drained')); // stop accepting; calls back when every connection is gone
  for (const res of inFlight) {
    if (!res.headersSent) res.setHeader('connection', 'close');
  }
  server.closeIdleConnections();
  for (const ws of websockets) ws.close(1001, 'server shutting down');
  // Logged once the listener is closed: whoever reads this line knows new connections fail.
  log('info', 'stopping', { signal, inFlight: inFlightAtStop, websockets: websocketsAtStop });

  setTimeout(() => {
    server.closeAllConnections();
    for (const ws of websockets) ws.destroy();
    finish('deadline');
  }, DRAIN_DEADLINE_MS).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// ---------------------------------------------------------------------------------------------
// WebSocket echo (RFC 6455): text and binary messages are echoed, pings answered with pongs.

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

function onUpgrade(req, socket, head) {
  socket.on('error', () => {});
  const url = parseTarget(req.url ?? '');
  if (!url || url.pathname !== '/ws') return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${url?.pathname ?? req.url}`);
  if (req.method !== 'GET') return rejectUpgrade(socket, 405, 'WebSocket handshakes use GET', { Allow: 'GET' });
  const key = header(req, 'sec-websocket-key');
  if ((header(req, 'upgrade') ?? '').toLowerCase() !== 'websocket' || !key || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    return rejectUpgrade(socket, 400, 'bad WebSocket handshake (Upgrade: websocket and a Sec-WebSocket-Key are required)');
  }
  if (header(req, 'sec-websocket-version') !== '13') {
    return rejectUpgrade(socket, 426, 'only WebSocket version 13 is supported', { 'Sec-WebSocket-Version': '13' });
  }
  if (shuttingDown) return rejectUpgrade(socket, 503, 'shutting down');

  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      `X-Served-By: ${NODE}\r\n\r\n`,
  );
  const ws = new WsConnection(socket, (closed) => websockets.delete(closed));
  websockets.add(ws);
  if (head && head.length > 0) ws.onData(head);
}

function rejectUpgrade(socket, status, message, extraHeaders = {}) {
  const body = `${JSON.stringify({ error: message })}\n`;
  const extra = Object.entries(extraHeaders)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n${extra}\r\n${body}`,
  );
}

function isValidCloseCode(code) {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function isValidUtf8(buf) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

class WsConnection {
  constructor(socket, onGone) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.fragments = null; // Buffer[] while a fragmented message is arriving
    this.fragmentOpcode = 0;
    this.fragmentBytes = 0;
    this.closeSent = false;
    this.closeReceived = false;
    this.closeTimer = undefined;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('end', () => socket.end());
    socket.on('close', () => {
      clearTimeout(this.closeTimer);
      onGone(this);
    });
  }

  onData(chunk) {
    if (this.closeReceived) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (!this.closeReceived && this.parseFrame()) {
      // one frame per iteration
    }
  }

  /** Consume one complete frame from the buffer; false when more bytes are needed (or on error). */
  parseFrame() {
    const b = this.buffer;
    if (b.length < 2) return false;
    const fin = (b[0] & 0x80) !== 0;
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let length = b[1] & 0x7f;
    let offset = 2;
    if ((b[0] & 0x70) !== 0) return this.fail(1002, 'reserved bits set');
    if (!masked) return this.fail(1002, 'client frames must be masked');
    if (opcode >= 0x8 && (length > 125 || !fin)) return this.fail(1002, 'bad control frame');
    if (length === 127) return this.fail(1009, 'message too big');
    if (length === 126) {
      if (b.length < 4) return false;
      length = b.readUInt16BE(2);
      offset = 4;
    }
    if (b.length < offset + 4 + length) return false;
    const mask = b.subarray(offset, offset + 4);
    offset += 4;
    const payload = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) payload[i] = b[offset + i] ^ mask[i & 3];
    this.buffer = b.subarray(offset + length);
    this.onFrame(fin, opcode, payload);
    return true;
  }

  onFrame(fin, opcode, payload) {
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragments) return this.fail(1002, 'expected a continuation frame');
        if (fin) return this.onMessage(opcode, payload);
        this.fragments = [payload];
        this.fragmentOpcode = opcode;
        this.fragmentBytes = payload.length;
        return;
      case OP_CONTINUATION: {
        if (!this.fragments) return this.fail(1002, 'continuation frame without a message');
        this.fragmentBytes += payload.length;
        if (this.fragmentBytes > WS_MAX_MESSAGE) return this.fail(1009, 'message too big');
        this.fragments.push(payload);
        if (!fin) return;
        const message = Buffer.concat(this.fragments);
        this.fragments = null;
        return this.onMessage(this.fragmentOpcode, message);
      }
      case OP_PING:
        return this.send(OP_PONG, payload);
      case OP_PONG:
        return;
      case OP_CLOSE:
        return this.onClose(payload);
      default:
        return this.fail(1002, `unknown opcode ${opcode}`);
    }
  }

  onMessage(opcode, payload) {
    if (opcode === OP_TEXT && !isValidUtf8(payload)) return this.fail(1007, 'text message is not valid UTF-8');
    this.send(opcode, payload); // echo
  }

  onClose(payload) {
    this.closeReceived = true;
    if (!this.closeSent) {
      let code;
      if (payload.length === 1) code = 1002;
      else if (payload.length >= 2) {
        const received = payload.readUInt16BE(0);
        code = isValidCloseCode(received) && isValidUtf8(payload.subarray(2)) ? received : 1002;
      }
      this.sendClose(code, '');
    }
    this.socket.end();
  }

  /** Start a closing handshake; the socket is cut if the peer does not answer within 1 s. */
  close(code, reason) {
    if (this.closeSent) return;
    this.sendClose(code, reason);
    this.closeTimer = setTimeout(() => this.socket.destroy(), 1_000);
    this.closeTimer.unref();
  }

  fail(code, reason) {
    this.close(code, reason);
    this.closeReceived = true; // ignore whatever else the peer sends
    this.socket.end();
    return false;
  }

  destroy() {
    this.socket.destroy();
  }

  sendClose(code, reason) {
    const payload =
      code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason.slice(0, 120))]);
    this.send(OP_CLOSE, payload);
    this.closeSent = true;
  }

  send(opcode, payload) {
    if (this.closeSent || !this.socket.writable) return;
    const length = payload.length;
    let head;
    if (length < 126) {
      head = Buffer.from([0x80 | opcode, length]);
    } else if (length < 65_536) {
      head = Buffer.alloc(4);
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(length), 2);
    }
    this.socket.write(Buffer.concat([head, payload]));
  }
}

// ---------------------------------------------------------------------------------------------
// The page

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A stable hue per node name; the page's script uses the same function. */
function hue(name) {
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 360;
}

function renderPage() {
  const node = escapeHtml(NODE);
  const cluster = CLUSTER ? escapeHtml(CLUSTER) : 'no cluster';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bulwark demo · ${node}</title>
<style>
  :root { color-scheme: dark; --bg: #0b1020; --card: #131a2e; --line: #232c47; --fg: #e6e9f2; --muted: #8b93ab; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 24px;
         font: 15px/1.55 ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--fg); background: radial-gradient(1200px 600px at 20% -10%, #1d2a55 0%, var(--bg) 60%); }
  main { width: min(680px, 100%); background: var(--card); border: 1px solid var(--line); border-radius: 18px;
         padding: 28px 32px; box-shadow: 0 24px 60px rgba(0,0,0,.45); }
  .eyebrow { margin: 0 0 6px; color: var(--muted); font-size: 13px; letter-spacing: .08em; text-transform: uppercase; }
  h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; }
  h2 { margin: 28px 0 6px; font-size: 16px; display: flex; align-items: center; gap: 10px; }
  .chip { display: inline-flex; align-items: center; gap: 8px; padding: 2px 12px 2px 10px; border-radius: 999px;
          font-weight: 650; color: hsl(var(--h) 90% 80%); background: hsl(var(--h) 60% 45% / .22);
          border: 1px solid hsl(var(--h) 70% 60% / .55); }
  .chip::before { content: ""; width: 9px; height: 9px; border-radius: 50%; background: hsl(var(--h) 80% 60%);
                  box-shadow: 0 0 10px hsl(var(--h) 80% 60%); }
  .chip.none { --h: 0; filter: grayscale(1); }
  .meta, .muted { color: var(--muted); margin: 0; }
  code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #0c1122; padding: 1px 6px; border-radius: 6px; }
  #live { list-style: none; margin: 14px 0 0; padding: 0; display: grid; gap: 6px; }
  #live li { display: grid; grid-template-columns: 150px 1fr auto; align-items: center; gap: 12px; padding: 7px 12px;
             border-radius: 10px; background: #0f1528; border: 1px solid var(--line); animation: in .35s ease-out; }
  #live li:first-child { border-color: #3a4670; }
  #live .when { color: var(--muted); font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; text-align: right; }
  .bar { height: 8px; border-radius: 4px; background: hsl(var(--h) 75% 58%); }
  #dot { width: 8px; height: 8px; border-radius: 50%; background: #4ade80; box-shadow: 0 0 8px #4ade80; }
  #dot.bad { background: #f87171; box-shadow: 0 0 8px #f87171; }
  @keyframes in { from { opacity: 0; transform: translateY(-4px); } to { opacity: 1; transform: none; } }
</style>
</head>
<body>
<main>
  <p class="eyebrow">Bulwark demo · ${cluster}</p>
  <h1>Served by <span class="chip" style="--h:${hue(NODE)}">${node}</span></h1>
  <p class="meta">pid ${process.pid} · port ${PORT} · ${escapeHtml(new Date().toISOString())}</p>
  <h2><span id="dot"></span>Live balancing</h2>
  <p class="muted">Every second this page asks <code>/api/whoami</code>; the last ten answers show which node replied.</p>
  <ol id="live"></ol>
</main>
<script>
  const hue = (name) => { let h = 0; for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0; return h % 360; };
  const last = [];
  const live = document.getElementById('live');
  const dot = document.getElementById('dot');
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; }
  function render() {
    const counts = {};
    for (const a of last) if (a.node) counts[a.node] = (counts[a.node] || 0) + 1;
    live.replaceChildren(...last.map((a) => {
      const li = el('li');
      const chip = el('span', a.node ? 'chip' : 'chip none', a.node || 'no answer');
      if (a.node) chip.style.setProperty('--h', hue(a.node));
      const bar = el('div', 'bar');
      if (a.node) { bar.style.setProperty('--h', hue(a.node)); bar.style.width = (counts[a.node] / last.length * 100) + '%'; }
      else { bar.style.background = 'transparent'; }
      bar.title = a.node ? counts[a.node] + ' of the last ' + last.length + ' answers' : a.error;
      li.append(chip, bar, el('span', 'when', a.node ? 'pid ' + a.pid + ' · ' + a.at : a.error + ' · ' + a.at));
      return li;
    }));
  }
  async function tick() {
    const at = new Date().toLocaleTimeString();
    try {
      const r = await fetch('/api/whoami', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const j = await r.json();
      last.unshift({ node: j.node, pid: j.pid, at });
      dot.className = '';
    } catch (e) {
      last.unshift({ node: null, error: e.message || String(e), at });
      dot.className = 'bad';
    }
    last.length = Math.min(last.length, 10);
    render();
    setTimeout(tick, 1000);
  }
  tick();
</script>
</body>
</html>
`;
}
