/**
 * When to order, renew, retry or ask a peer for an ACME certificate: a pure decision over what
 * this lb holds and whether it holds the VIP, and a small loop that runs it on the injected clock.
 *
 * Only the lb that holds the VIP orders (the ACME server validates through the VIP); the others
 * keep the certificate their peer pushes them and, while they lack a good one, ask for it.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

/** First retry after a failed order, doubling up to RETRY_MAX_MS. */
export const RETRY_INITIAL_MS = 10_000;
export const RETRY_MAX_MS = 3_600_000;
/** How often an lb without a good certificate checks again (for the VIP, or a peer's certificate). */
export const RECHECK_MS = 5_000;

export interface HeldCertificate {
  readonly names: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
  /** The directory it was ordered from. */
  readonly directory: string;
}

export interface ScheduleInput {
  readonly held: HeldCertificate | undefined;
  readonly names: readonly string[];
  readonly directory: string;
  /** Fraction of the lifetime after which to renew. */
  readonly renewAt: number;
  readonly active: boolean;
  /** Failed orders since the last success, and when the last one failed. */
  readonly failures: number;
  readonly lastFailureAt: number | undefined;
  readonly lastPullAt: number | undefined;
  readonly now: number;
}

export type Decision =
  | { readonly action: 'order'; readonly kind: 'issue' | 'renew'; readonly why: string }
  | { readonly action: 'pull'; readonly why: string }
  | { readonly action: 'wait'; readonly delayMs: number; readonly why: string };

export function renewalTime(held: Pick<HeldCertificate, 'notBefore' | 'notAfter'>, renewAt: number): number {
  return held.notBefore + Math.floor((held.notAfter - held.notBefore) * renewAt);
}

/** The pause after the n-th consecutive failure (n ≥ 1): 10 s, 20 s, 40 s … at most an hour. */
export function retryDelay(failures: number, initialMs = RETRY_INITIAL_MS, maxMs = RETRY_MAX_MS): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

/** Why the held certificate will not do (undefined: it will, until its renewal time). */
export function shortfall(held: HeldCertificate | undefined, i: Pick<ScheduleInput, 'names' | 'directory' | 'renewAt' | 'now'>): string | undefined {
  if (!held) return 'no certificate yet';
  if (held.notAfter <= i.now) return `the certificate expired at ${iso(held.notAfter)}`;
  const same = held.names.length === i.names.length && i.names.every((n) => held.names.includes(n));
  if (!same) return `the names changed (${held.names.join(', ')} → ${i.names.join(', ')})`;
  if (held.directory !== i.directory) return `the directory changed (${held.directory} → ${i.directory})`;
  if (i.now >= renewalTime(held, i.renewAt)) return `renewal was due at ${iso(renewalTime(held, i.renewAt))}`;
  return undefined;
}

export function decide(i: ScheduleInput): Decision {
  const lacking = shortfall(i.held, i);
  if (lacking === undefined) {
    const at = renewalTime(i.held!, i.renewAt);
    return { action: 'wait', delayMs: at - i.now, why: `certificate good until ${iso(i.held!.notAfter)}, renewal at ${iso(at)}` };
  }
  if (!i.active) {
    if (i.lastPullAt === undefined || i.now - i.lastPullAt >= RECHECK_MS) return { action: 'pull', why: `${lacking}; not holding the VIP, so asking the peer lbs` };
    return { action: 'wait', delayMs: i.lastPullAt + RECHECK_MS - i.now, why: `${lacking}; waiting for the lb that holds the VIP` };
  }
  if (i.failures > 0 && i.lastFailureAt !== undefined) {
    const retryAt = i.lastFailureAt + retryDelay(i.failures);
    if (i.now < retryAt) return { action: 'wait', delayMs: retryAt - i.now, why: `${lacking}; retry ${i.failures + 1} at ${iso(retryAt)}` };
  }
  return { action: 'order', kind: i.held ? 'renew' : 'issue', why: lacking };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** What the loop does for a decision; the loop only times them. */
export interface ScheduleActions {
  /** Inputs the decision needs that the loop does not own. */
  view(): { held: HeldCertificate | undefined; active: boolean };
  /** Order a certificate; rejects when it could not. */
  order(kind: 'issue' | 'renew', why: string): Promise<void>;
  /** Ask the peers for their certificate (never rejects). */
  pull(): Promise<void>;
  /** A failed order, with the delay before the next try. */
  failed(kind: 'issue' | 'renew', err: Error, retryInMs: number, failures: number): void;
}

export interface ScheduleStatus {
  readonly failures: number;
  readonly lastError: string | null;
  readonly next: string | null;
  readonly why: string;
}

export class AcmeSchedule {
  private timer: TimerHandle | undefined;
  private failures = 0;
  private lastFailureAt: number | undefined;
  private lastPullAt: number | undefined;
  private lastError: string | null = null;
  private nextAt: number | null = null;
  private why = 'not started';
  private running = false;
  private stopped = false;

  constructor(
    private readonly o: { names: readonly string[]; directory: string; renewAt: number },
    private readonly clock: Clock,
    private readonly actions: ScheduleActions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /** Decide again now (a pushed certificate arrived, the VIP moved). */
  poke(): void {
    if (!this.running && !this.stopped) this.schedule(0);
  }

  status(): ScheduleStatus {
    return { failures: this.failures, lastError: this.lastError, next: this.nextAt === null ? null : new Date(this.nextAt).toISOString(), why: this.why };
  }

  private schedule(ms: number): void {
    this.clock.clearTimeout(this.timer);
    this.nextAt = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => void this.tick(), ms);
  }

  private decision(): Decision {
    const v = this.actions.view();
    return decide({
      ...this.o, held: v.held, active: v.active, failures: this.failures, lastFailureAt: this.lastFailureAt, lastPullAt: this.lastPullAt, now: this.clock.now(),
    });
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    try {
      const d = this.decision();
      this.why = d.why;
      if (d.action === 'order') {
        try {
          await this.actions.order(d.kind, d.why);
          this.failures = 0;
          this.lastError = null;
        } catch (err) {
          this.failures++;
          this.lastFailureAt = this.clock.now();
          this.lastError = (err as Error).message;
          this.actions.failed(d.kind, err as Error, retryDelay(this.failures), this.failures);
        }
      } else if (d.action === 'pull') {
        this.lastPullAt = this.clock.now();
        await this.actions.pull();
      }
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    const next = this.decision();
    this.why = next.why;
    // Timers hold 32-bit delays (~24.8 days): wake up earlier and decide again.
    this.schedule(next.action === 'wait' ? Math.min(next.delayMs, 2 ** 31 - 1) : 0);
  }
}
