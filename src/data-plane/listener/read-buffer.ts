/**
 * `onread` for sockets accepted by a net.Server. net.connect() takes `onread: { buffer, callback }`
 * (node reads into that buffer and calls back, skipping the per-read buffer allocation and the
 * stream machinery behind 'data'), but node 20 offers no way to ask for it on server-side
 * sockets. The switch net.Socket makes for that option is small: two internal properties and one
 * call on its handle. This does the same on an accepted socket, and reports false (the caller
 * then uses 'data') wherever those internals are not as expected.
 *
 * It must run before the socket's first read, i.e. in the 'connection' listener.
 */
import type net from 'node:net';

interface Internals {
  readonly kBuffer: symbol;
  readonly kBufferCb: symbol;
}

/** Found once, on the first socket; null when this node does not look like node 20. */
let internals: Internals | null | undefined = process.env.BULWARK_NO_ONREAD === '1' ? null : undefined;

function find(socket: net.Socket): Internals | null {
  const own = Object.getOwnPropertySymbols(socket);
  const kBuffer = own.find((s) => s.description === 'kBuffer');
  const kBufferCb = own.find((s) => s.description === 'kBufferCb');
  if (kBuffer === undefined || kBufferCb === undefined) return null;
  return { kBuffer, kBufferCb };
}

type Slots = Record<symbol, unknown> & { _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null };

/**
 * Read `socket` into `buffer` from now on: `callback(nread, buffer)` instead of 'data' events
 * ('end', 'close' and pause()/resume() work as before). The bytes are only valid during the
 * callback. Returns false, changing nothing, when it cannot be done.
 */
export function readInto(socket: net.Socket, buffer: Buffer, callback: (nread: number, buf: Buffer) => boolean): boolean {
  if (internals === undefined) internals = find(socket);
  if (internals === null) return false;
  const s = socket as unknown as Slots;
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || s[internals.kBuffer] !== null || s[internals.kBufferCb] !== null) {
    return false;
  }
  s[internals.kBuffer] = buffer;
  s[internals.kBufferCb] = callback;
  handle.useUserBuffer(buffer);
  return true;
}
