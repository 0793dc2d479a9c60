/** "Does this target answer?": raw HTTP/1.1 GETs on fresh connections before anything is timed. */
import net from 'node:net';
import http2 from 'node:http2';
import tls from 'node:tls';

export interface Answer {
  status: number;
  body: string;
}

/** `secure`: over TLS (the benchmark's own throwaway CA; the certificate is not checked here). */
export function rawGet(port: number, timeoutMs = 3000, secure = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = secure ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(new Error(`no complete answer from port ${port} within ${timeoutMs} ms`)), timeoutMs);
    s.on(secure ? 'secureConnect' : 'connect', () => s.write('GET / HTTP/1.1\r\nHost: bench.local\r\nConnection: close\r\n\r\n'));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const sep = text.indexOf('\r\n\r\n');
      if (!m || sep < 0) return reject(new Error(`port ${port} did not answer HTTP: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(m[1]), body: text.slice(sep + 4) });
    });
  });
}

/**
 * A target is ready when four requests in a row answer 200 with a ~100-byte body, and (when
 * `bothBackends`) both backends were seen, i.e. round robin works.
 */
export async function checkTarget(name: string, port: number, bothBackends: boolean, timeoutMs = 15_000, secure = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const seen = new Set<string>();
      let ok = true;
      for (let i = 0; i < 4; i++) {
        const a = await rawGet(port, 3000, secure);
        if (a.status !== 200 || a.body.length < 90 || a.body.length > 110) {
          ok = false;
          last = `status ${a.status}, ${a.body.length}-byte body ${JSON.stringify(a.body.slice(0, 80))}`;
          break;
        }
        seen.add(a.body[0]!);
      }
      if (ok && (!bothBackends || seen.size === 2)) return;
      if (ok) last = `only backend(s) ${[...seen].join(',')} answered in 4 requests (round robin?)`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} (port ${port}) is not answering correctly: ${last}`);
}

/** The same check over HTTP/2 (one session, four streams): the target must have negotiated h2. */
export async function checkH2Target(name: string, port: number, bothBackends: boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', (err) => {
      last = err.message;
    });
    try {
      const seen = new Set<string>();
      let ok = true;
      for (let i = 0; i < 4; i++) {
        const a = await h2Get(session, 3000);
        if (a.status !== 200 || a.body.length < 90 || a.body.length > 110) {
          ok = false;
          last = `status ${a.status}, ${a.body.length}-byte body ${JSON.stringify(a.body.slice(0, 80))}`;
          break;
        }
        seen.add(a.body[0]!);
      }
      if (ok && session.alpnProtocol !== 'h2') {
        ok = false;
        last = `ALPN chose ${String(session.alpnProtocol)}, not h2`;
      }
      if (ok && (!bothBackends || seen.size === 2)) return;
      if (ok) last = `only backend(s) ${[...seen].join(',')} answered in 4 requests (round robin?)`;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      session.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} (port ${port}) is not answering correctly over HTTP/2: ${last}`);
}

function h2Get(session: http2.ClientHttp2Session, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': 'bench.local' });
    const chunks: Buffer[] = [];
    let status = 0;
    const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      clearTimeout(timer);
      if (status === 0) reject(new Error(`no HTTP/2 answer from port within ${timeoutMs} ms`));
      else resolve({ status, body: Buffer.concat(chunks).toString('latin1') });
    });
  });
}
