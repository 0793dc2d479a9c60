/**
 * A raw HTTP/1.1 client on a plain TCP socket: writes exact bytes and reads responses one at a
 * time off the stream, so tests can check framing, keep-alive, pipelining and what the edge
 * does with malformed input byte by byte.
 */
import net from 'node:net';
import { HOST } from './ports.js';

export interface RawResponse {
  status: number;
  reason: string;
  /** Header lines as received, in order. */
  rawHeaders: [string, string][];
  /** Lower-case name → values joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The head as received, without the final CRLFCRLF. */
  head: string;
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.notify();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.notify();
        resolve();
      }),
    );
    socket.once('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  static async connect(port: number, host = HOST): Promise<RawClient> {
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** True once the peer ended or closed the connection. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Bytes received and not yet consumed by readResponse. */
  get unread(): Buffer {
    return this.buf;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  private async waitData(deadline: number, what: string): Promise<void> {
    if (this.ended) throw new Error(`connection closed while waiting for ${what}; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
    const ms = deadline - Date.now();
    if (ms <= 0) throw new Error(`timeout waiting for ${what}; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * The next complete response. `method` tells whether a body may follow (HEAD never has one).
   * 1xx interim responses are returned like any other.
   */
  async readResponse(opts: { method?: string; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) await this.waitData(deadline, 'a response head');
    const head = this.buf.toString('latin1', 0, end);
    const [statusLine, ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
    if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const rawHeaders: [string, string][] = [];
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      rawHeaders.push([name, value]);
      const lower = name.toLowerCase();
      headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
    }
    let pos = end + 4;
    let body: Buffer;
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (opts.method === 'HEAD' || status < 200 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (te !== undefined && /chunked/i.test(te)) {
      const parts: Buffer[] = [];
      for (;;) {
        let lineEnd: number;
        while ((lineEnd = this.buf.indexOf('\r\n', pos)) < 0) await this.waitData(deadline, 'a chunk size');
        const size = parseInt(this.buf.toString('latin1', pos, lineEnd), 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size at ${pos}`);
        pos = lineEnd + 2;
        if (size === 0) {
          // Trailers (none expected) end with an empty line.
          let t: number;
          while ((t = this.buf.indexOf('\r\n', pos)) < 0) await this.waitData(deadline, 'the last chunk');
          while (t !== pos) {
            pos = t + 2;
            while ((t = this.buf.indexOf('\r\n', pos)) < 0) await this.waitData(deadline, 'trailers');
          }
          pos += 2;
          break;
        }
        while (this.buf.length < pos + size + 2) await this.waitData(deadline, 'chunk data');
        parts.push(Buffer.from(this.buf.subarray(pos, pos + size)));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      const n = Number(cl);
      while (this.buf.length < pos + n) await this.waitData(deadline, `a body of ${n} bytes`);
      body = Buffer.from(this.buf.subarray(pos, pos + n));
      pos += n;
    } else {
      // Delimited by close.
      while (!this.ended) await this.waitData(deadline, 'the end of a close-delimited body').catch((err) => {
        if (!this.ended) throw err;
      });
      body = Buffer.from(this.buf.subarray(pos));
      pos = this.buf.length;
    }
    this.buf = this.buf.subarray(pos);
    return { status, reason: m[2]!, rawHeaders, headers, body, head };
  }

  /** Write `bytes`, then read the next response. */
  readResponseAfter(bytes: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
    this.write(bytes);
    return this.readResponse({ timeoutMs });
  }

  /** Resolves when the peer has closed the connection; rejects after timeoutMs. */
  async waitEnded(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      await this.waitData(deadline, 'the connection to close').catch((err) => {
        if (!this.ended && Date.now() >= deadline) throw err;
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request on a fresh raw connection; returns the first response. */
export async function rawRequest(port: number, bytes: string | Buffer, opts: { method?: string; timeoutMs?: number } = {}): Promise<RawResponse> {
  const c = await RawClient.connect(port);
  try {
    c.write(bytes);
    return await c.readResponse(opts);
  } finally {
    c.close();
  }
}
