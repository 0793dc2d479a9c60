/**
 * findWalEnd on synthetic WAL written here in PostgreSQL's layout (page headers, records with
 * CRC-32C and prev-links, continuation pages): where the valid WAL ends, and on which timeline.
 * Real PostgreSQL WAL is checked in test/integration/pg-rejoin.test.ts.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32c, crc32cFinish, crc32cUpdate, CRC32C_INIT } from '../../src/control-plane/pg-ha/postgres/crc32c.js';
import { findWalEnd } from '../../src/control-plane/pg-ha/postgres/wal-end.js';
import { parseTimelineHistory, removeNewerHistoryFiles } from '../../src/control-plane/pg-ha/postgres/timeline.js';

const SEG = 1 << 20;
const PAGE = 8192;
const SYSID = 7_000_000_000_000_000_001n;
const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const align = (n: number): number => Math.ceil(n / 8) * 8;

/** Writes WAL the way PostgreSQL lays it out, into 1 MiB segments of one timeline. */
class Wal {
  readonly segs = new Map<number, Buffer>();
  pos: number;
  prev = 0;
  contPages: number[] = [];
  constructor(readonly tli: number, start: number) {
    this.pos = start;
  }
  private seg(no: number): Buffer {
    let b = this.segs.get(no);
    if (!b) this.segs.set(no, (b = Buffer.alloc(SEG)));
    return b;
  }
  /** Page header at the page starting at `ptr`; returns its size. */
  header(ptr: number, flags = 0, remLen = 0): number {
    const b = this.seg(Math.floor(ptr / SEG));
    const off = ptr % SEG;
    const long = off === 0;
    b.writeUInt16LE(0xd118, off);
    b.writeUInt16LE(flags | (long ? 0x2 : 0), off + 2);
    b.writeUInt32LE(this.tli, off + 4);
    b.writeBigUInt64LE(BigInt(ptr), off + 8);
    b.writeUInt32LE(remLen, off + 16);
    if (long) {
      b.writeBigUInt64LE(SYSID, off + 24);
      b.writeUInt32LE(SEG, off + 32);
      b.writeUInt32LE(PAGE, off + 36);
    }
    return long ? 40 : 24;
  }
  /** Append a record with `payload` bytes; returns its start. `corrupt` flips a payload byte after the CRC. */
  record(payload: number, opts: { rmid?: number; info?: number; corrupt?: boolean } = {}): number {
    if (this.pos % PAGE === 0) this.pos += this.header(this.pos);
    const start = this.pos;
    const rec = Buffer.alloc(24 + payload);
    rec.writeUInt32LE(rec.length, 0);
    rec.writeBigUInt64LE(BigInt(this.prev), 8);
    rec[16] = opts.info ?? 0;
    rec[17] = opts.rmid ?? 10;
    for (let i = 24; i < rec.length; i++) rec[i] = (i * 7 + start) & 0xff;
    rec.writeUInt32LE(crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, rec, 24), rec, 0, 20)), 20);
    if (opts.corrupt) rec[rec.length - 1]! ^= 0xff;
    let i = 0;
    while (i < rec.length) {
      if (this.pos % PAGE === 0) {
        this.contPages.push(this.pos);
        this.pos += this.header(this.pos, 0x1, rec.length - i);
      }
      const n = Math.min(rec.length - i, PAGE - (this.pos % PAGE));
      rec.copy(this.seg(Math.floor(this.pos / SEG)), this.pos % SEG, i, i + n);
      i += n;
      this.pos += n;
    }
    this.prev = start;
    this.pos = align(this.pos);
    return start;
  }
  save(walDir: string): void {
    for (const [no, b] of this.segs) fs.writeFileSync(path.join(walDir, `${hex8(this.tli)}00000000${hex8(no)}`), b);
  }
}

function controlFile(dataDir: string, checkpoint: number, tli: number): void {
  const b = Buffer.alloc(296);
  b.writeBigUInt64LE(SYSID, 0);
  b.writeUInt32LE(1800, 8);
  b.writeInt32LE(6, 16); // in production: a crash
  b.writeBigUInt64LE(BigInt(checkpoint), 32);
  b.writeBigUInt64LE(BigInt(checkpoint), 40);
  b.writeUInt32LE(tli, 48);
  b.writeUInt32LE(tli, 52);
  fs.writeFileSync(path.join(dataDir, 'global', 'pg_control'), b);
}

describe('findWalEnd', () => {
  let dataDir: string;
  let walDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-walend-'));
    walDir = path.join(dataDir, 'pg_wal');
    fs.mkdirSync(walDir);
    fs.mkdirSync(path.join(dataDir, 'global'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('CRC-32C matches the standard check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  });

  it('reads from the checkpoint record across pages and stops where the records stop', async () => {
    const w = new Wal(1, SEG); // segment 1
    const ckpt = w.record(88);
    w.record(100);
    w.record(3 * PAGE); // spans four pages
    w.record(PAGE - 24 - 40); // ends on a page boundary
    w.record(10);
    w.save(walDir);
    controlFile(dataDir, ckpt, 1);
    const e = await findWalEnd(dataDir);
    assert.equal(e.end, w.pos);
    assert.equal(e.records, 5);
    assert.equal(e.timeline, 1);
    assert.match(e.stoppedBy, /invalid record length 0/);
  });

  it('a record failing its CRC, or missing its continuation page, is the end', async () => {
    const w = new Wal(1, SEG);
    const ckpt = w.record(88);
    w.record(500);
    const goodEnd = w.pos;
    w.record(200, { corrupt: true });
    w.record(50);
    w.save(walDir);
    controlFile(dataDir, ckpt, 1);
    const e = await findWalEnd(dataDir);
    assert.equal(e.end, goodEnd);
    assert.match(e.stoppedBy, /fails its CRC/);

    const v = new Wal(1, SEG);
    const c2 = v.record(88);
    const end2 = v.pos;
    v.record(2 * PAGE);
    // The second page of the record was never written (a recycled page from an older segment).
    v.segs.get(1)!.writeBigUInt64LE(0n, v.contPages[0]! % SEG + 8);
    v.save(walDir);
    controlFile(dataDir, c2, 1);
    const e2 = await findWalEnd(dataDir);
    assert.equal(e2.end, end2);
    assert.match(e2.stoppedBy, /incomplete/);
  });

  it('an XLOG_SWITCH record ends its segment; reading goes on in the next one', async () => {
    const w = new Wal(1, SEG);
    const ckpt = w.record(88);
    w.record(0, { rmid: 0, info: 0x40 });
    w.pos = 2 * SEG;
    w.record(30);
    w.save(walDir);
    controlFile(dataDir, ckpt, 1);
    const e = await findWalEnd(dataDir);
    assert.equal(e.records, 3);
    assert.equal(e.end, w.pos);
  });

  it('a page flagged XLP_FIRST_IS_OVERWRITE_CONTRECORD replaces the record it interrupts', async () => {
    const w = new Wal(1, SEG);
    const ckpt = w.record(88);
    const beforeTorn = w.prev;
    w.record(PAGE); // continues on the next page...
    const page = w.contPages[0]!;
    // ...but crash recovery overwrote that page: a new record right after its header.
    w.segs.get(1)!.fill(0, page % SEG, page % SEG + PAGE);
    w.pos = page;
    w.prev = beforeTorn;
    w.record(40);
    w.header(page, 0x8);
    w.save(walDir);
    controlFile(dataDir, ckpt, 1);
    const e = await findWalEnd(dataDir);
    assert.equal(e.end, w.pos);
    assert.equal(e.records, 2);
  });

  it('the timeline comes from the local history, not from page headers', async () => {
    // Timeline 2 forked off at `fork`: its first segment holds a copy of timeline 1 up to there.
    const t1 = new Wal(1, SEG);
    const ckpt = t1.record(88);
    t1.record(100);
    const fork = t1.pos;
    t1.record(300); // only on timeline 1 (diverged)
    t1.save(walDir);
    fs.writeFileSync(path.join(walDir, '00000002.history'), `1\t0/${fork.toString(16).toUpperCase()}\tno recovery target specified\n`);
    controlFile(dataDir, ckpt, 1);
    // Only timeline 1's file: its WAL ends past the fork, on timeline 1.
    let e = await findWalEnd(dataDir);
    assert.deepEqual([e.end, e.timeline], [t1.pos, 1]);

    const t2 = new Wal(1, SEG); // same bytes up to the fork (page headers still say timeline 1)
    t2.record(88);
    t2.record(100);
    t2.record(16); // the end-of-recovery record, on timeline 2
    for (const [no, b] of t2.segs) fs.writeFileSync(path.join(walDir, `0000000200000000${hex8(no)}`), b);
    e = await findWalEnd(dataDir);
    assert.deepEqual([e.end, e.timeline], [t2.pos, 2]);
  });

  it('history files: parsed in order; newer ones can be removed', () => {
    assert.deepEqual(parseTimelineHistory('1\t0/3000148\tno recovery target specified\n\n# c\n2\t1/10\tx\n'), [
      { timeline: 1, end: 0x3000148 },
      { timeline: 2, end: 2 ** 32 + 16 },
    ]);
    assert.throws(() => parseTimelineHistory('garbage\n'));
    for (const t of [2, 3, 4]) fs.writeFileSync(path.join(walDir, `${hex8(t)}.history`), '');
    assert.deepEqual(removeNewerHistoryFiles(dataDir, 2), ['00000003.history', '00000004.history']);
    assert.deepEqual(fs.readdirSync(walDir), ['00000002.history']);
  });

  it('no checkpoint record to start from: an error, not a guess', async () => {
    const w = new Wal(1, SEG);
    w.record(88);
    w.save(walDir);
    controlFile(dataDir, SEG + 4096, 1);
    await assert.rejects(findWalEnd(dataDir), /cannot read the checkpoint record/);
  });
});
