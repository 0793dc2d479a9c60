/**
 * The access log: one JSON line per request, batched into few writes so logging a request costs
 * a string build and an array push, not a syscall.
 */
import fs from 'node:fs';

export interface AccessRecord {
  time: string;
  frontend: string;
  client: string;
  method: string;
  path: string;
  host: string | undefined;
  status: number;
  bytes: number;
  durationMs: number;
  backend: string | undefined;
  server: string | undefined;
  retries: number;
  requestId: string;
  /** How the exchange ended when not normally (e.g. "client-abort", "server-reset", "timeout"). */
  termination?: string;
}

export class AccessLog {
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly fd: number, private readonly flushMs = 200) {
    this.timer = setInterval(() => this.flush(), this.flushMs);
    this.timer.unref();
  }

  static open(path: string): AccessLog {
    return new AccessLog(fs.openSync(path, 'a'));
  }

  write(rec: AccessRecord): void {
    const line = JSON.stringify(rec) + '\n';
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes > 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    // One synchronous write per batch keeps lines in order and whole; at one batch per 200 ms
    // (or 64 KiB) its cost is spread over hundreds of requests.
    try {
      fs.writeSync(this.fd, chunk);
    } catch {
      // A full disk must not take the edge down; the metrics still count the requests.
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    if (this.fd > 2) fs.closeSync(this.fd);
  }
}
