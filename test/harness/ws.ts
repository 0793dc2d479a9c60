/**
 * A minimal WebSocket (RFC 6455) client and echo server for proxy tests: masked frames out of
 * the client, unmasked frames out of the server; the server echoes text and binary frames.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { HOST } from './ports.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

function acceptOf(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

export function encodeFrame(opcode: number, payload: Buffer, mask: boolean, fin = true): Buffer {
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (payload.length < 126) head.push(maskBit | payload.length);
  else if (payload.length < 65536) head.push(maskBit | 126, payload.length >> 8, payload.length & 0xff);
  else throw new Error('frame too large for this helper');
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** Parses frames off a byte stream. */
export class FrameReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return out;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return out;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return out;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const keyLen = masked ? 4 : 0;
      if (b.length < offset + keyLen + length) return out;
      const payload = Buffer.from(b.subarray(offset + keyLen, offset + keyLen + length));
      if (masked) {
        const key = b.subarray(offset, offset + 4);
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
      }
      out.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, masked, payload });
      this.buf = b.subarray(offset + keyLen + length);
    }
  }
}

/** Make `server` answer WebSocket upgrades on any path with an echo. */
export function attachWsEcho(server: http.Server): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptOf(key)}\r\nX-Upgrade-Path: ${req.url}\r\n\r\n`,
    );
    const reader = new FrameReader();
    const onData = (chunk: Buffer): void => {
      for (const f of reader.push(chunk)) {
        if (!f.masked) {
          socket.destroy(); // clients must mask
          return;
        }
        if (f.opcode === OP.close) {
          socket.end(encodeFrame(OP.close, f.payload, false));
          return;
        }
        if (f.opcode === OP.ping) socket.write(encodeFrame(OP.pong, f.payload, false));
        else if (f.opcode === OP.text || f.opcode === OP.binary) socket.write(encodeFrame(f.opcode, f.payload, false));
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(head);
  });
}

export class WsClient {
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  private readonly waiters: Array<{ resolve: (f: Frame) => void; reject: (e: Error) => void }> = [];
  private isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket, readonly responseHead: string, rest: Buffer) {
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
        resolve();
      }),
    );
    socket.on('data', (c: Buffer) => this.push(c));
    if (rest.length > 0) this.push(rest);
  }

  /** Handshake on `target`; asserts 101 and a correct Sec-WebSocket-Accept. */
  static async connect(port: number, target = '/ws', host = `${HOST}:${port}`, localAddress?: string): Promise<WsClient> {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect({ port, host: HOST, ...(localAddress ? { localAddress } : {}) });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    const end = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no handshake answer: ${buf.toString()}`)), 5000);
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk]);
        const i = buf.indexOf('\r\n\r\n');
        if (i >= 0) {
          clearTimeout(timer);
          socket.off('data', onData);
          resolve(i);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed during the handshake: ${buf.toString()}`)));
    });
    const head = buf.subarray(0, end).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    assert.equal(Number(statusLine!.split(' ')[1]), 101, head);
    assert.equal(headers['upgrade']?.toLowerCase(), 'websocket', head);
    assert.equal(headers['sec-websocket-accept'], acceptOf(key), head);
    return new WsClient(socket, head, buf.subarray(end + 4));
  }

  send(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean } = {}): void {
    this.socket.write(encodeFrame(opcode, typeof payload === 'string' ? Buffer.from(payload) : payload, opts.mask ?? true, opts.fin ?? true));
  }

  next(timeoutMs = 5000): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame within the timeout')), timeoutMs);
      this.waiters.push({
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  private push(chunk: Buffer): void {
    for (const frame of this.reader.push(chunk)) {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(frame);
      else this.frames.push(frame);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
