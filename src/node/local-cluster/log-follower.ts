/** Follows the nodes' log files and hands each new line to a callback (for `bulwark up`). */
import fs from 'node:fs';

export class LogFollower {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly files: Map<string, string>, private readonly onLine: (source: string, line: string) => void) {
    // Only what is written from now on.
    for (const [source, file] of files) this.offsets.set(source, sizeOf(file));
  }

  start(intervalMs = 200): void {
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  poll(): void {
    for (const [source, file] of this.files) {
      const size = sizeOf(file);
      let from = this.offsets.get(source) ?? 0;
      if (size < from) from = 0; // truncated or replaced
      if (size === from) continue;
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - from, 1024 * 1024));
        const n = fs.readSync(fd, buf, 0, buf.length, from);
        this.offsets.set(source, from + n);
        const text = (this.partial.get(source) ?? '') + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        this.partial.set(source, lines.pop() ?? '');
        for (const line of lines) if (line) this.onLine(source, line);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.poll();
  }
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
