/**
 * `tls: files`: PEM pairs from disk, served by SNI. The files are polled every second; a changed
 * pair is loaded and swapped in without a restart (new handshakes get it, open connections keep
 * theirs). A pair that fails to load is reported and the previous certificates stay.
 */
import fs from 'node:fs';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import { readFailure } from '../../core/files.js';
import type { CertificatePair, CertificateStore } from '../../data-plane/tls/index.js';

export class FilesCertificateSource {
  private timer: TimerHandle | undefined;
  private stamp = '';
  /** Why the last change of the files could not be loaded (cleared by a good load). */
  lastError: string | undefined;

  constructor(
    private readonly pairs: readonly { cert: string; key: string }[],
    private readonly store: CertificateStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly pollMs = 1000,
  ) {}

  /** Load every pair now; throws (BWK_TLS_FILES) naming the file that is missing or bad. */
  start(): void {
    this.stamp = this.currentStamp();
    try {
      this.store.set(this.read());
    } catch (err) {
      throw new BulwarkError('BWK_TLS_FILES', `edge.tls.certificates: ${(err as Error).message}`, [], { cause: err });
    }
    const tick = (): void => {
      this.poll();
      this.timer = this.clock.setTimeout(tick, this.pollMs);
    };
    this.timer = this.clock.setTimeout(tick, this.pollMs);
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
  }

  private poll(): void {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.store.set(this.read());
      this.lastError = undefined;
      this.log.info({ files: this.pairs.map((p) => p.cert) }, `certificates reloaded from files (${this.pairs.length} pair(s))`);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.error({ err: (err as Error).message }, `certificate files changed but do not load, still serving the previous ones: ${(err as Error).message}`);
    }
  }

  private read(): CertificatePair[] {
    return this.pairs.map((p) => ({ certPem: readPem(p.cert), keyPem: readPem(p.key), source: p.cert }));
  }

  /** Size and mtime of every file: a change in any of them means reload. */
  private currentStamp(): string {
    return this.pairs.flatMap((p) => [p.cert, p.key]).map((f) => {
      try {
        const st = fs.statSync(f);
        return `${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    }).join('|');
  }
}

function readPem(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${readFailure(err)}`);
  }
}
