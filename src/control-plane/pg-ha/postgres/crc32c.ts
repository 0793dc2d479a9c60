/**
 * CRC-32C (Castagnoli), the checksum of every WAL record (PostgreSQL's pg_crc32c). Slicing-by-8
 * tables: the WAL scan checks tens of MiB of records and Node has no built-in CRC-32C.
 *
 * PostgreSQL computes a record's CRC over two ranges (the payload, then the header up to the CRC
 * field), hence the raw update: start from CRC32C_INIT, update per range, then crc32cFinish.
 */
const POLY = 0x82f63b78;
const T = new Uint32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[i] = c >>> 0;
}
for (let s = 1; s < 8; s++) {
  for (let i = 0; i < 256; i++) {
    const prev = T[(s - 1) * 256 + i]!;
    T[s * 256 + i] = (prev >>> 8) ^ T[prev & 0xff]!;
  }
}

export const CRC32C_INIT = 0xffffffff;

export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc >>> 0;
  let i = start;
  for (; end - i >= 8; i += 8) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c = T[7 * 256 + (c & 0xff)]! ^ T[6 * 256 + ((c >>> 8) & 0xff)]! ^ T[5 * 256 + ((c >>> 16) & 0xff)]! ^ T[4 * 256 + (c >>> 24)]!
      ^ T[3 * 256 + buf[i + 4]!]! ^ T[2 * 256 + buf[i + 5]!]! ^ T[256 + buf[i + 6]!]! ^ T[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32c(buf: Uint8Array): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, buf));
}
