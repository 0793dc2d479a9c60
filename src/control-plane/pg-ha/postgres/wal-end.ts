/**
 * Where a STOPPED member's WAL ends: the end of the last valid record, i.e. how far crash or
 * standby recovery would replay, and that record's timeline. No pg_waldump needed (the npm
 * package has none). The HA core compares it with the primary's timeline history: at or before
 * the fork point the member can simply follow; past it, it holds WAL the primary never had.
 *
 * Reads forward from the last checkpoint record (pg_control) as PostgreSQL's xlogreader does:
 *  - pages: magic as on the first page read, page address = its position, known info bits only,
 *    a long header (system id, segment and page size) exactly on a segment's first page, and
 *    timelines never going back;
 *  - records: MAXALIGNed starts, a header that may itself span pages, continuation pages with
 *    XLP_FIRST_IS_CONTRECORD and the right remaining length, prev-links, CRC-32C of each record;
 *    an XLOG_SWITCH ends its segment; a page flagged XLP_FIRST_IS_OVERWRITE_CONTRECORD replaces
 *    the record it interrupts (crash recovery wrote it there);
 *  - segments: for each, the file of the highest timeline present (recovery reads the newest
 *    timeline that has the segment; a file of a newer timeline holds the older prefix too,
 *    streaming always starts at a segment boundary).
 * The first record that fails any check (or is not there) is the end: the same rule recovery
 * applies. What cannot be read at all (no pg_control, no checkpoint record) throws.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readControlFile } from './control-file.js';
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from './crc32c.js';
import { formatLsn, lsnToBigInt } from './sql.js';
import { readTimelineHistory } from './timeline.js';

export interface WalEnd {
  /**
   * Where the last valid record ends, MAXALIGNed as PostgreSQL counts it (bytes): the position
   * replay stops at, comparable with a history file's switchpoint.
   */
  readonly end: number;
  readonly endLsn: string;
  /** Timeline of the last valid record (from the local history: page headers can lag). */
  readonly timeline: number;
  /** Records read from the last checkpoint on. */
  readonly records: number;
  /** Why the record after the last one is not valid (end of WAL, torn record…). */
  readonly stoppedBy: string;
}

const SHORT_HEADER = 24;
const LONG_HEADER = 40;
const RECORD_HEADER = 24;
const CRC_OFFSET = 20;
const XLP_FIRST_IS_CONTRECORD = 0x1;
const XLP_LONG_HEADER = 0x2;
const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x8;
const XLP_ALL_FLAGS = 0xf;
const RM_XLOG_ID = 0;
const XLOG_SWITCH = 0x40;
const SEGMENT_NAME = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;

const maxAlign = (n: number): number => Math.ceil(n / 8) * 8;

interface Page {
  readonly buf: Buffer;
  /** Offset of the page in buf. */
  readonly at: number;
  /** Timeline of the segment file the page was read from. */
  readonly fileTimeline: number;
  readonly info: number;
  readonly timeline: number;
  readonly remLen: number;
  readonly headerSize: number;
}

type Read =
  | { readonly kind: 'record'; readonly start: number; readonly next: number; readonly fileTimeline: number }
  | { readonly kind: 'overwritten'; readonly restartAt: number }
  | { readonly kind: 'end'; readonly why: string };

class WalReader {
  private magic: number | undefined;
  private latestTimeline = 0;
  private segment: { no: number; tli: number; buf: Buffer } | undefined;

  constructor(
    private readonly walDir: string,
    /** segment number → timelines that have a file for it, highest first */
    private readonly files: ReadonlyMap<number, readonly number[]>,
    private readonly segSize: number,
    private readonly pageSize: number,
    private readonly systemId: string,
  ) {}

  private async segmentOf(no: number): Promise<{ tli: number; buf: Buffer } | undefined> {
    if (this.segment?.no === no) return this.segment;
    const tli = this.files.get(no)?.[0];
    if (tli === undefined) return undefined;
    const perId = 0x100000000 / this.segSize;
    const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
    const buf = await fs.promises.readFile(path.join(this.walDir, `${hex(tli)}${hex(Math.floor(no / perId))}${hex(no % perId)}`));
    this.segment = { no, tli, buf };
    return this.segment;
  }

  /** The validated page at `ptr` (page-aligned), or why it is not valid. */
  async page(ptr: number): Promise<Page | string> {
    const no = Math.floor(ptr / this.segSize);
    const off = ptr % this.segSize;
    const seg = await this.segmentOf(no);
    if (!seg) return `no WAL segment for ${formatLsn(ptr)}`;
    const buf = seg.buf;
    if (buf.length < off + this.pageSize) return `WAL segment ends before ${formatLsn(ptr)}`;
    const magic = buf.readUInt16LE(off);
    const info = buf.readUInt16LE(off + 2);
    const timeline = buf.readUInt32LE(off + 4);
    const pageAddr = Number(buf.readBigUInt64LE(off + 8));
    this.magic ??= magic;
    if (magic !== this.magic) return `invalid page magic at ${formatLsn(ptr)}`;
    if ((info & ~XLP_ALL_FLAGS) !== 0) return `invalid page info bits at ${formatLsn(ptr)}`;
    if (pageAddr !== ptr) return `page at ${formatLsn(ptr)} says it is ${formatLsn(pageAddr)} (not written since the segment was recycled)`;
    const long = (info & XLP_LONG_HEADER) !== 0;
    if (long !== (off === 0)) return `long page header ${long ? 'inside' : 'missing at the start of'} a segment at ${formatLsn(ptr)}`;
    if (long) {
      if (buf.readBigUInt64LE(off + 24).toString() !== this.systemId) return `WAL at ${formatLsn(ptr)} belongs to another system`;
      if (buf.readUInt32LE(off + 32) !== this.segSize || buf.readUInt32LE(off + 36) !== this.pageSize) return `segment or page size changes at ${formatLsn(ptr)}`;
    }
    if (timeline < this.latestTimeline) return `timeline goes back from ${this.latestTimeline} to ${timeline} at ${formatLsn(ptr)}`;
    this.latestTimeline = timeline;
    return { buf, at: off, fileTimeline: seg.tli, info, timeline, remLen: buf.readUInt32LE(off + 16), headerSize: long ? LONG_HEADER : SHORT_HEADER };
  }

  /** The record at `start` (prevLink: the previous record's start, when known). */
  async record(start: number, prevLink: number | undefined): Promise<Read> {
    let pagePtr = start - (start % this.pageSize);
    let page = await this.page(pagePtr);
    if (typeof page === 'string') return { kind: 'end', why: page };
    let pos = start;
    if (pos === pagePtr) pos += page.headerSize;
    const inPage = pos - pagePtr;
    if (inPage < page.headerSize) return { kind: 'end', why: `record start ${formatLsn(pos)} inside a page header` };
    if ((page.info & XLP_FIRST_IS_CONTRECORD) !== 0 && inPage === page.headerSize) {
      return { kind: 'end', why: `a continuation where a record should start at ${formatLsn(pos)}` };
    }
    const total = page.buf.readUInt32LE(page.at + inPage);
    if (total < RECORD_HEADER) return { kind: 'end', why: `invalid record length ${total} at ${formatLsn(pos)}` };
    const fileTimeline = page.fileTimeline;
    const first = Math.min(total, this.pageSize - inPage);
    const chunks = [page.buf.subarray(page.at + inPage, page.at + inPage + first)];
    let got = first;
    let end = pos + first;
    while (got < total) {
      pagePtr += this.pageSize;
      page = await this.page(pagePtr);
      if (typeof page === 'string') return { kind: 'end', why: `record at ${formatLsn(pos)} is incomplete: ${page}` };
      if ((page.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0) return { kind: 'overwritten', restartAt: pagePtr };
      if ((page.info & XLP_FIRST_IS_CONTRECORD) === 0 || page.remLen !== total - got) {
        return { kind: 'end', why: `record at ${formatLsn(pos)} has no valid continuation at ${formatLsn(pagePtr)}` };
      }
      const n = Math.min(total - got, this.pageSize - page.headerSize);
      chunks.push(page.buf.subarray(page.at + page.headerSize, page.at + page.headerSize + n));
      got += n;
      end = pagePtr + page.headerSize + n;
    }
    const rec = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
    const prev = Number(rec.readBigUInt64LE(8));
    if (prevLink !== undefined ? prev !== prevLink : prev >= pos) return { kind: 'end', why: `record at ${formatLsn(pos)} has a wrong prev-link` };
    const crc = crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, rec, RECORD_HEADER, total), rec, 0, CRC_OFFSET));
    if (crc !== rec.readUInt32LE(CRC_OFFSET)) return { kind: 'end', why: `record at ${formatLsn(pos)} fails its CRC` };
    if (rec[17] === RM_XLOG_ID && (rec[16]! & 0xf0) === XLOG_SWITCH) {
      // The rest of the segment is unused: replay goes on at the next one.
      return { kind: 'record', start: pos, next: Math.ceil(end / this.segSize) * this.segSize, fileTimeline };
    }
    return { kind: 'record', start: pos, next: maxAlign(end), fileTimeline };
  }
}

/** Segment numbers → timelines with a file for it (highest first); the segment and page size. */
function listSegments(walDir: string): { files: Map<number, number[]>; segSize: number; pageSize: number } {
  const names = fs.readdirSync(walDir).filter((f) => SEGMENT_NAME.test(f)).sort();
  if (names.length === 0) throw new Error(`no WAL segments in ${walDir}`);
  // Every segment file starts with a long page header (recycled ones keep their old, same-sized one).
  const head = Buffer.alloc(LONG_HEADER);
  const fd = fs.openSync(path.join(walDir, names[names.length - 1]!), 'r');
  try {
    fs.readSync(fd, head, 0, LONG_HEADER, 0);
  } finally {
    fs.closeSync(fd);
  }
  const segSize = head.readUInt32LE(32);
  const pageSize = head.readUInt32LE(36);
  const pow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(segSize) || segSize < 1 << 20 || segSize > 1 << 30 || !pow2(pageSize) || pageSize < 1024 || pageSize > 65536) {
    throw new Error(`unexpected WAL segment size ${segSize} or page size ${pageSize}`);
  }
  const perId = 0x100000000 / segSize;
  const files = new Map<number, number[]>();
  for (const f of names) {
    const m = SEGMENT_NAME.exec(f)!;
    const no = parseInt(m[2]!, 16) * perId + parseInt(m[3]!, 16);
    files.set(no, [...(files.get(no) ?? []), parseInt(m[1]!, 16)].sort((a, b) => b - a));
  }
  return { files, segSize, pageSize };
}

/**
 * The timeline a record starting at `pos` belongs to. The segment file's timeline is an upper
 * bound: a newer timeline's first segment starts with a copy of its parent's WAL, whose page
 * headers keep the parent's timeline even past the switch.
 */
function timelineAt(dataDir: string, pos: number, fileTimeline: number): number {
  // Ancestors in order, each ending where the next begins.
  for (const h of readTimelineHistory(dataDir, fileTimeline)) if (pos < h.end) return h.timeline;
  return fileTimeline;
}

export async function findWalEnd(dataDir: string): Promise<WalEnd> {
  const control = readControlFile(dataDir);
  if (!control) throw new Error(`no pg_control in ${dataDir}`);
  const walDir = path.join(dataDir, 'pg_wal');
  const { files, segSize, pageSize } = listSegments(walDir);
  const reader = new WalReader(walDir, files, segSize, pageSize, control.systemIdentifier);
  let pos = Number(lsnToBigInt(control.checkpointLsn));
  let prevLink: number | undefined;
  let last: { start: number; next: number; fileTimeline: number } | undefined;
  let records = 0;
  for (;;) {
    const r = await reader.record(pos, prevLink);
    if (r.kind === 'overwritten') {
      pos = r.restartAt;
      continue;
    }
    if (r.kind === 'end') {
      if (!last) throw new Error(`cannot read the checkpoint record at ${control.checkpointLsn}: ${r.why}`);
      const timeline = timelineAt(dataDir, last.start, last.fileTimeline);
      return { end: last.next, endLsn: formatLsn(last.next), timeline, records, stoppedBy: r.why };
    }
    last = r;
    records++;
    prevLink = r.start;
    pos = r.next;
  }
}
