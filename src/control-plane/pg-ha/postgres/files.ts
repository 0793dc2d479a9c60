/**
 * File helpers for a data directory that belongs to another user: write atomically (temp file +
 * rename), then hand the file to the service user, so PostgreSQL can rewrite it later
 * (ALTER SYSTEM rewrites postgresql.auto.conf the same way).
 */
import fs from 'node:fs';
import path from 'node:path';
import { giveTo, type ServiceUser } from './os-user.js';
import { writeFileAtomic } from '../../../core/files.js';

export function writeOwnedFile(file: string, content: string | Buffer, owner: ServiceUser, mode = 0o600): void {
  writeFileAtomic(file, content, { mode, fsync: true, prepare: (tmp) => giveTo(tmp, owner) });
}

/** True when `dir` does not exist or has no entries. */
export function isEmptyDir(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

const ASIDE = '.discarded-';

/**
 * Move `dir` aside (a rename: instant) so a new one can take its place at once; remove it later
 * with removeMovedAside. Deleting a data dir and its WAL can take a second or more on a busy disk:
 * time a re-clone should not wait for. Returns the new path.
 */
export function moveAside(dir: string, stamp: number): string {
  const to = `${dir}${ASIDE}${stamp}`;
  fs.renameSync(dir, to);
  return to;
}

/** Remove every directory moveAside left next to `dir` (an earlier agent's too). Returns them. */
export async function removeMovedAside(dir: string): Promise<string[]> {
  const parent = path.dirname(dir);
  const prefix = `${path.basename(dir)}${ASIDE}`;
  const found = fs.readdirSync(parent).filter((e) => e.startsWith(prefix)).map((e) => path.join(parent, e));
  for (const d of found) await fs.promises.rm(d, { recursive: true, force: true });
  return found;
}

/** The last `n` lines of a text file (reads at most the last 64 KiB). */
export function tailFile(file: string, n = 20, fromOffset = 0): string[] {
  try {
    const st = fs.statSync(file);
    const start = Math.max(fromOffset, st.size - 64 * 1024);
    const len = st.size - start;
    if (len <= 0) return [];
    const buf = Buffer.alloc(len);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buf, 0, len, start);
    } finally {
      fs.closeSync(fd);
    }
    return buf.toString('utf8').split('\n').filter((l) => l.length > 0).slice(-n);
  } catch {
    return [];
  }
}

/**
 * Make everything under `dir` durable with one syncfs(2) of its filesystem (`sync -f`, coreutils
 * 8.24+), far cheaper than an fsync per file; falls back to fsyncing each file and directory.
 */
export async function syncTree(dir: string): Promise<'syncfs' | 'fsync'> {
  const { execFile } = await import('node:child_process');
  const ok = await new Promise<boolean>((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, (err) => resolve(!err));
  });
  if (ok) return 'syncfs';
  const walk = async (p: string): Promise<void> => {
    const st = await fs.promises.lstat(p);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) for (const e of await fs.promises.readdir(p)) await walk(path.join(p, e));
    const fh = await fs.promises.open(p, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  };
  await walk(dir);
  return 'fsync';
}

/** Exists from a clone's first byte to its end (clone.ts): `<dataDir>.clone-incomplete`. */
export function cloneMarker(dataDir: string): string {
  return `${path.resolve(dataDir)}.clone-incomplete`;
}

/** A clone started here and never finished: the data dir must not be started, only re-cloned. */
export function isCloneIncomplete(dataDir: string): boolean {
  return fs.existsSync(cloneMarker(dataDir));
}
