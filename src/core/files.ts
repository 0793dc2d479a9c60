/**
 * Replace a file atomically: write a temporary file beside it, then rename it over the old one,
 * so a reader (another process, or this one after a crash) sees the old content or the new, never
 * half of it.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Default 0600 (set explicitly: the umask does not apply). */
  readonly mode?: number;
  /** fsync the content before the rename (durable, not only atomic). */
  readonly fsync?: boolean;
  /** Last touch to the temporary file before it takes the name (e.g. hand it to another user). */
  readonly prepare?: (tmp: string) => void;
}

export function writeFileAtomic(file: string, content: string | Buffer, o: AtomicWriteOptions = {}): void {
  const mode = o.mode ?? 0o600;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, content);
    if (o.fsync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, mode);
  o.prepare?.(tmp);
  fs.renameSync(tmp, file);
}

/** Why a file could not be read, in words for a message: "no such file", "permission denied", … */
export function readFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a folder' : e.message;
}
