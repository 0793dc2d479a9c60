/**
 * The monitor's history on disk: append-only segments of JSON lines in the monitor node's folder
 * (`history/seg-<start ms>.ndjson`). One write per scrape round; a segment is closed after
 * `segmentMs` or when it reaches an eighth of the size budget; retention deletes whole segments,
 * oldest first, once they are older than the age limit or the total exceeds the size limit. A
 * line torn by a crash is skipped on replay. Why not a database: the monitor only appends and
 * replays in order, whole-segment deletion is retention, and there is nothing native to build.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../core/clock.js';

export interface SegmentLogOptions {
  readonly dir: string;
  readonly ageMs: number;
  readonly sizeBytes: number;
  readonly clock: Clock;
}

const NAME = /^seg-(\d{13})\.ndjson$/;

export class SegmentLog {
  private fd: number | undefined;
  private current: { start: number; file: string; bytes: number } | undefined;
  readonly segmentMs: number;

  constructor(private readonly o: SegmentLogOptions) {
    this.segmentMs = Math.min(3_600_000, Math.max(60_000, Math.floor(o.ageMs / 8)));
  }

  private segments(): { start: number; file: string; bytes: number }[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.o.dir);
    } catch {
      return [];
    }
    return names.flatMap((n) => {
      const m = NAME.exec(n);
      if (!m) return [];
      const file = path.join(this.o.dir, n);
      let bytes = 0;
      try {
        bytes = fs.statSync(file).size;
      } catch {
        return [];
      }
      return [{ start: Number(m[1]), file, bytes }];
    }).sort((a, b) => a.start - b.start);
  }

  /** Every stored line, oldest first (after retention has been applied). */
  replay(fn: (line: Record<string, unknown>) => void): void {
    fs.mkdirSync(this.o.dir, { recursive: true });
    this.applyRetention();
    for (const seg of this.segments()) {
      let text: string;
      try {
        text = fs.readFileSync(seg.file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue; // torn by a crash mid-write
        }
        if (parsed && typeof parsed === 'object') fn(parsed as Record<string, unknown>);
      }
    }
  }

  /** Closes the current segment when it is old or big enough; true when the next write starts a new one. */
  rotateIfDue(): boolean {
    const cur = this.current;
    if (!cur) return this.fd === undefined;
    const now = this.o.clock.now();
    if (now - cur.start < this.segmentMs && cur.bytes < this.o.sizeBytes / 8) return false;
    this.closeFile();
    this.applyRetention();
    return true;
  }

  append(lines: readonly object[]): void {
    if (lines.length === 0) return;
    if (!this.current) this.openNew();
    const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
    try {
      fs.writeSync(this.fd!, text);
      this.current!.bytes += Buffer.byteLength(text);
    } catch {
      // A full disk must not stop monitoring: the history just has a gap (DiskNearlyFull says why).
    }
  }

  private openNew(): void {
    fs.mkdirSync(this.o.dir, { recursive: true });
    const start = this.o.clock.now();
    const file = path.join(this.o.dir, `seg-${String(start).padStart(13, '0')}.ndjson`);
    this.fd = fs.openSync(file, 'a');
    this.current = { start, file, bytes: fs.fstatSync(this.fd).size };
  }

  private closeFile(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.current = undefined;
  }

  /** Delete segments that ended before the age limit, then the oldest while over the size limit. */
  applyRetention(): void {
    const now = this.o.clock.now();
    const segs = this.segments();
    const keep = segs.filter((s, i) => {
      const end = segs[i + 1]?.start ?? now;
      if (s.file === this.current?.file || end >= now - this.o.ageMs) return true;
      fs.rmSync(s.file, { force: true });
      return false;
    });
    let total = keep.reduce((a, s) => a + s.bytes, 0);
    for (const s of keep) {
      if (total <= this.o.sizeBytes || s.file === this.current?.file) break;
      fs.rmSync(s.file, { force: true });
      total -= s.bytes;
    }
  }

  /** Bytes on disk now. */
  bytes(): number {
    return this.segments().reduce((a, s) => a + s.bytes, 0);
  }

  close(): void {
    this.closeFile();
  }
}

/** JSON has no NaN or infinities: they travel as strings. */
export function encodeNumber(v: number): number | string {
  return Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

export function decodeNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return NaN;
}
