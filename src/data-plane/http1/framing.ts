/**
 * Message body framing (RFC 9112 §6): knows where a body ends so a connection can be reused,
 * without copying or re-encoding the bytes it forwards. Chunked bodies are scanned, not decoded.
 */
export type FramingKind = 'none' | 'length' | 'chunked' | 'close';

const enum Chunk {
  Size, SizeExt, SizeLf, Data, DataCr, DataLf, TrailerStart, TrailerLine, TrailerLf, FinalLf,
}

export class BodyFramer {
  kind: FramingKind = 'none';
  done = true;
  private remaining = 0;
  private state = Chunk.Size;
  private sizeDigits = 0;
  /** Bytes seen so far (for limits and access logs). */
  bytes = 0;
  /**
   * Set to decode a chunked body instead of only scanning it: called with each run of chunk data
   * (buf[from..to)) as it is found (an HTTP/2 client gets the data without the chunk framing).
   */
  onData: ((buf: Buffer, from: number, to: number) => void) | undefined = undefined;

  reset(kind: FramingKind, length = 0): void {
    this.kind = kind;
    this.bytes = 0;
    this.remaining = length;
    this.state = Chunk.Size;
    this.sizeDigits = 0;
    this.done = kind === 'none' || (kind === 'length' && length === 0);
  }

  /**
   * Consume body bytes from buf[start..]. Returns the index just past the body's end when it ends
   * inside buf, or -1 when every byte belongs to the body and more is needed. Throws on malformed
   * chunked framing.
   */
  consume(buf: Buffer, start: number): number {
    if (this.done) return start;
    switch (this.kind) {
      case 'length': {
        const avail = buf.length - start;
        if (avail < this.remaining) {
          this.remaining -= avail;
          this.bytes += avail;
          return -1;
        }
        const end = start + this.remaining;
        this.bytes += this.remaining;
        this.remaining = 0;
        this.done = true;
        return end;
      }
      case 'close':
        this.bytes += buf.length - start;
        return -1;
      case 'chunked':
        return this.scanChunked(buf, start);
      default:
        return start;
    }
  }

  private scanChunked(buf: Buffer, start: number): number {
    let i = start;
    const len = buf.length;
    while (i < len) {
      const c = buf[i]!;
      switch (this.state) {
        case Chunk.Size: {
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.sizeDigits > 12) throw new Error('chunk size too large');
            this.remaining = this.remaining * 16 + d;
            i++;
          } else if (c === 0x0d) {
            if (this.sizeDigits === 0) throw new Error('missing chunk size');
            this.state = Chunk.SizeLf;
            i++;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            if (this.sizeDigits === 0) throw new Error('missing chunk size');
            this.state = Chunk.SizeExt;
            i++;
          } else {
            throw new Error('invalid chunk size');
          }
          break;
        }
        case Chunk.SizeExt:
          if (c === 0x0d) this.state = Chunk.SizeLf;
          else if (c === 0x0a || c < 0x09) throw new Error('invalid chunk extension');
          i++;
          break;
        case Chunk.SizeLf:
          if (c !== 0x0a) throw new Error('chunk size line not ended by CRLF');
          i++;
          this.sizeDigits = 0;
          this.state = this.remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.Data: {
          const take = Math.min(this.remaining, len - i);
          this.remaining -= take;
          this.bytes += take;
          if (this.onData !== undefined) this.onData(buf, i, i + take);
          i += take;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (c !== 0x0d) throw new Error('chunk data not followed by CRLF');
          this.state = Chunk.DataLf;
          i++;
          break;
        case Chunk.DataLf:
          if (c !== 0x0a) throw new Error('chunk data not followed by CRLF');
          this.state = Chunk.Size;
          i++;
          break;
        case Chunk.TrailerStart:
          if (c === 0x0d) this.state = Chunk.FinalLf;
          else if (c === 0x0a) throw new Error('bare LF in trailer');
          else this.state = Chunk.TrailerLine;
          i++;
          break;
        case Chunk.TrailerLine:
          if (c === 0x0d) this.state = Chunk.TrailerLf;
          else if (c === 0x0a) throw new Error('bare LF in trailer');
          i++;
          break;
        case Chunk.TrailerLf:
          if (c !== 0x0a) throw new Error('trailer line not ended by CRLF');
          this.state = Chunk.TrailerStart;
          i++;
          break;
        case Chunk.FinalLf:
          if (c !== 0x0a) throw new Error('chunked body not ended by CRLF');
          this.done = true;
          return i + 1;
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Framing of a request body (RFC 9112 §6.3, request side: no body unless framed). */
export function requestFraming(chunked: boolean, contentLength: number): { kind: FramingKind; length: number } {
  if (chunked) return { kind: 'chunked', length: 0 };
  if (contentLength > 0) return { kind: 'length', length: contentLength };
  return { kind: 'none', length: 0 };
}

/** Framing of a response body given the request method and the response status. */
export function responseFraming(
  method: string, status: number, chunked: boolean, contentLength: number,
): { kind: FramingKind; length: number } {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return { kind: 'none', length: 0 };
  if (chunked) return { kind: 'chunked', length: 0 };
  if (contentLength >= 0) return contentLength === 0 ? { kind: 'none', length: 0 } : { kind: 'length', length: contentLength };
  return { kind: 'close', length: 0 };
}
