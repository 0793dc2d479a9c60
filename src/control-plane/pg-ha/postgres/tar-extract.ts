/**
 * A streaming tar extractor for base backups: feed it chunks as they arrive (`write`), it
 * writes the entries under `dir`, owned by the service user, and never holds more than one
 * 512-byte header (plus small metadata entries) in memory.
 *
 * Supported: ustar and GNU headers (octal and base-256 sizes), pax extended headers (`x`: path,
 * linkpath, size; `g` ignored), GNU long names (`L`, `K`), regular files, directories, symlinks
 * and hard links. Refused: absolute paths, `..` components, and any entry below a symlink the
 * archive itself created (an archive must not write outside `dir`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServiceUser } from './os-user.js';

const BLOCK = 512;
/** Gather up to this many bytes of a file before writing (small files are written at once). */
const COALESCE = 1024 * 1024;
/** Create or truncate, never following a symlink at the final component. */
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW;

export interface TarEntryInfo {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink';
  readonly size: number;
}

export interface TarExtractorOptions {
  readonly dir: string;
  readonly owner: ServiceUser;
  /** fsync each file before closing it and each directory at the end (default true). */
  readonly fsync?: boolean;
  readonly onEntry?: (e: TarEntryInfo) => void;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

function cstr(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function tarNumber(buf: Buffer, start: number, len: number): number {
  const first = buf[start]!;
  if (first & 0x80) {
    // base-256 (GNU): big-endian two's complement, first byte's top bit is the marker
    let v = BigInt(first & 0x7f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(buf[start + i]!);
    return Number(v);
  }
  const s = cstr(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`tar: bad octal number ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = tarNumber(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === stored;
}

/** pax records: "<len> <key>=<value>\n" */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) throw new TarFormatError('tar: bad pax record');
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

interface PendingMeta {
  readonly kind: 'pax' | 'gpax' | 'longname' | 'longlink';
  readonly chunks: Buffer[];
}

export class TarExtractor {
  readonly dir: string;
  private readonly owner: ServiceUser;
  private readonly fsync: boolean;
  private readonly onEntry: ((e: TarEntryInfo) => void) | undefined;

  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private state: 'header' | 'data' | 'meta' | 'skip' | 'end' = 'header';
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  /** The regular file being written: small ones are gathered and written in one go. */
  private file: { path: string; mode: number; fh?: fs.promises.FileHandle; parts: Buffer[]; partBytes: number } | undefined;
  private meta: PendingMeta | undefined;
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private readonly dirsMade = new Set<string>();
  private readonly symlinks = new Set<string>();
  /** Entries written. */
  entries = 0;
  /** Bytes of archive consumed. */
  bytes = 0;

  constructor(opts: TarExtractorOptions) {
    this.dir = path.resolve(opts.dir);
    this.owner = opts.owner;
    this.fsync = opts.fsync ?? true;
    this.onEntry = opts.onEntry;
  }

  get finished(): boolean {
    return this.state === 'end';
  }

  async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
          chunk.copy(this.header, this.headerFill, off, off + n);
          this.headerFill += n;
          off += n;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            await this.onHeader(this.header);
          }
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, chunk.length - off);
          if (this.file && n > 0) {
            this.file.parts.push(chunk.subarray(off, off + n));
            this.file.partBytes += n;
            if (this.file.partBytes >= COALESCE) await this.flushParts();
          }
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) await this.finishFile();
          break;
        }
        case 'meta': {
          const n = Math.min(this.remaining, chunk.length - off);
          this.meta!.chunks.push(Buffer.from(chunk.subarray(off, off + n)));
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.finishMeta();
          break;
        }
        case 'skip': {
          const n = Math.min(this.padding, chunk.length - off);
          this.padding -= n;
          off += n;
          if (this.padding === 0) this.state = 'header';
          break;
        }
        case 'end':
          return; // trailing blocks after the end-of-archive marker
      }
    }
  }

  /** Call after the last chunk: checks the archive ended cleanly and fsyncs directories. */
  async end(): Promise<void> {
    if (this.file) {
      await this.abort();
      throw new TarFormatError('tar: archive ended inside a file');
    }
    if (this.state === 'data' || this.state === 'meta' || this.headerFill !== 0) throw new TarFormatError('tar: archive truncated');
    if (this.state !== 'end' && this.zeroBlocks === 0 && this.entries === 0) throw new TarFormatError('tar: empty archive');
    if (this.fsync) {
      for (const d of [this.dir, ...this.dirsMade]) {
        const fh = await fs.promises.open(d, 'r').catch(() => undefined);
        if (fh) {
          await fh.sync().catch(() => undefined);
          await fh.close();
        }
      }
    }
  }

  /** Close anything open after a failure. */
  async abort(): Promise<void> {
    if (this.file?.fh) await this.file.fh.close().catch(() => undefined);
    this.file = undefined;
  }

  /** Write the gathered parts of a large file through an async handle (opened on first use). */
  private async flushParts(): Promise<void> {
    const f = this.file!;
    f.fh ??= await fs.promises.open(f.path, WRITE_FLAGS, f.mode);
    const buf = f.parts.length === 1 ? f.parts[0]! : Buffer.concat(f.parts, f.partBytes);
    f.parts = [];
    f.partBytes = 0;
    await this.writeAll(f.fh, buf);
  }

  private async writeAll(fh: fs.promises.FileHandle, buf: Buffer): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await fh.write(buf, done, buf.length - done);
      done += bytesWritten;
    }
  }

  private async onHeader(h: Buffer): Promise<void> {
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = 'end';
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumOk(h)) throw new TarFormatError('tar: header checksum mismatch');
    const type = String.fromCharCode(h[156]!);
    let size = tarNumber(h, 124, 12);
    const magic = cstr(h, 257, 6);
    const prefix = magic === 'ustar' ? cstr(h, 345, 155) : '';
    let name = cstr(h, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    let linkName = cstr(h, 157, 100);
    const mode = tarNumber(h, 100, 8) & 0o7777;

    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      const kind = type === 'x' ? 'pax' : type === 'g' ? 'gpax' : type === 'L' ? 'longname' : 'longlink';
      if (size > 1024 * 1024) throw new TarFormatError(`tar: ${kind} header of ${size} bytes`);
      this.meta = { kind, chunks: [] };
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) this.finishMeta();
      else this.state = 'meta';
      return;
    }

    // Apply overrides from a preceding pax / GNU header.
    if (this.pax.has('path')) name = this.pax.get('path')!;
    else if (this.longName !== undefined) name = this.longName;
    if (this.pax.has('linkpath')) linkName = this.pax.get('linkpath')!;
    else if (this.longLink !== undefined) linkName = this.longLink;
    if (this.pax.has('size')) size = Number(this.pax.get('size'));
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;

    const rel = this.safeRelative(name);
    const target = rel === '' ? this.dir : path.join(this.dir, rel);
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.entries++;

    switch (type) {
      case '0':
      case '\0':
      case '7': {
        await this.ensureParent(target);
        this.file = { path: target, mode: mode || 0o600, parts: [], partBytes: 0 };
        this.onEntry?.({ path: rel, type: 'file', size });
        this.remaining = size;
        if (size === 0) await this.finishFile();
        else this.state = 'data';
        return;
      }
      case '5': {
        await this.makeDir(target, mode || 0o700);
        this.onEntry?.({ path: rel, type: 'directory', size: 0 });
        break;
      }
      case '2': {
        await this.ensureParent(target);
        await fs.promises.rm(target, { force: true, recursive: false }).catch(() => undefined);
        await fs.promises.symlink(linkName, target);
        if (this.owner.switchUser) await fs.promises.lchown(target, this.owner.uid, this.owner.gid);
        this.symlinks.add(target);
        this.onEntry?.({ path: rel, type: 'symlink', size: 0 });
        break;
      }
      case '1': {
        const src = path.join(this.dir, this.safeRelative(linkName));
        await this.ensureParent(target);
        await fs.promises.rm(target, { force: true });
        await fs.promises.link(src, target);
        this.onEntry?.({ path: rel, type: 'hardlink', size: 0 });
        break;
      }
      default:
        throw new TarFormatError(`tar: unsupported entry type ${JSON.stringify(type)} for ${name}`);
    }
    // Entries other than files carry no data (size should be 0): skip whatever they declare.
    this.padding = size + this.padding;
    this.state = this.padding > 0 ? 'skip' : 'header';
  }

  private finishMeta(): void {
    const m = this.meta!;
    this.meta = undefined;
    const data = Buffer.concat(m.chunks);
    if (m.kind === 'pax') this.pax = parsePax(data);
    else if (m.kind === 'longname') this.longName = cstr(data, 0, data.length);
    else if (m.kind === 'longlink') this.longLink = cstr(data, 0, data.length);
    this.state = this.padding > 0 ? 'skip' : 'header';
  }

  private async finishFile(): Promise<void> {
    const f = this.file;
    if (f) {
      if (f.fh) {
        if (f.partBytes > 0) await this.flushParts();
        this.file = undefined;
        try {
          await f.fh.chmod(f.mode);
          if (this.owner.switchUser) await f.fh.chown(this.owner.uid, this.owner.gid);
          if (this.fsync) await f.fh.sync();
        } finally {
          await f.fh.close();
        }
      } else {
        // Small file (most of a data dir): a few quick syscalls, no thread-pool round trips.
        this.file = undefined;
        const fd = fs.openSync(f.path, WRITE_FLAGS, f.mode);
        try {
          for (const part of f.parts) {
            let done = 0;
            while (done < part.length) done += fs.writeSync(fd, part, done, part.length - done);
          }
          fs.fchmodSync(fd, f.mode);
          if (this.owner.switchUser) fs.fchownSync(fd, this.owner.uid, this.owner.gid);
          if (this.fsync) fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
    }
    this.state = this.padding > 0 ? 'skip' : 'header';
  }

  private safeRelative(name: string): string {
    let n = name.replace(/\/+$/, '');
    while (n.startsWith('./')) n = n.slice(2);
    if (n === '.' || n === '') return '';
    if (n.startsWith('/')) throw new TarFormatError(`tar: absolute path ${JSON.stringify(name)}`);
    const parts = n.split('/');
    if (parts.some((p) => p === '..')) throw new TarFormatError(`tar: ".." in ${JSON.stringify(name)}`);
    const norm = parts.filter((p) => p !== '' && p !== '.').join('/');
    // Never write through a symlink this archive created.
    let cur = this.dir;
    for (const p of norm.split('/').slice(0, -1)) {
      cur = path.join(cur, p);
      if (this.symlinks.has(cur)) throw new TarFormatError(`tar: ${JSON.stringify(name)} lies below the symlink ${cur}`);
    }
    return norm;
  }

  private async makeDir(dir: string, mode: number): Promise<void> {
    if (dir !== this.dir) await this.ensureParent(dir);
    try {
      await fs.promises.mkdir(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fs.promises.lstat(dir);
      if (!st.isDirectory()) throw new TarFormatError(`tar: ${dir} exists and is not a directory`);
    }
    await fs.promises.chmod(dir, mode);
    if (this.owner.switchUser) await fs.promises.chown(dir, this.owner.uid, this.owner.gid);
    this.dirsMade.add(dir);
  }

  private async ensureParent(p: string): Promise<void> {
    const parent = path.dirname(p);
    if (parent === this.dir || this.dirsMade.has(parent)) return;
    if (!parent.startsWith(this.dir + path.sep)) throw new TarFormatError(`tar: ${p} is outside ${this.dir}`);
    try {
      const st = await fs.promises.lstat(parent);
      if (st.isDirectory()) {
        this.dirsMade.add(parent);
        return;
      }
      throw new TarFormatError(`tar: ${parent} is not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.makeDir(parent, 0o700);
  }
}
