/**
 * Active health checking: probe a server on a schedule and run the results through RiseFall.
 * All timing goes through the injected Clock, so a ManualClock drives it exactly in tests.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Probe, ProbeResult } from './probe.js';
import { RiseFall, type HealthState } from './rise-fall.js';

export interface ActiveHealthCheckOptions {
  readonly probe: Probe;
  /** Gap between the end of one probe and the start of the next. */
  readonly intervalMs: number;
  /** A probe still pending after this is aborted and counted as a failure. */
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly clock: Clock;
  readonly onChange?: (state: 'up' | 'down', reason: string) => void;
  readonly onResult?: (r: ProbeResult) => void;
  /** The predecessor's counter across a config reload; its state and streaks carry over. */
  readonly initial?: RiseFall;
  /** Where a throwing callback is reported (it must not stop the checks). */
  readonly log?: Logger;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export class ActiveHealthCheck {
  private readonly opts: ActiveHealthCheckOptions;
  private readonly counter: RiseFall;
  private running = false;
  /**
   * Bumped by every probe start and by stop(): a probe that settles late (after its timeout, or
   * after stop) compares its ticket with this and is ignored, which is how a probe that never
   * settles at all is harmless.
   */
  private generation = 0;
  private nextTimer: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;
  private inflight: AbortController | undefined;
  private last: ProbeResult | undefined;
  private changedAt: number | undefined;

  constructor(opts: ActiveHealthCheckOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0 (got ${opts.intervalMs})`);
    if (!(opts.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0 (got ${opts.timeoutMs})`);
    this.opts = opts;
    this.counter = opts.initial ? RiseFall.adopt(opts.initial, opts.rise, opts.fall) : new RiseFall(opts.rise, opts.fall);
  }

  get state(): HealthState {
    return this.counter.state;
  }
  get lastResult(): ProbeResult | undefined {
    return this.last;
  }
  /** Clock time of the last transition made by this checker (undefined until one happens). */
  get lastChangeAt(): number | undefined {
    return this.changedAt;
  }
  get riseFall(): RiseFall {
    return this.counter;
  }
  get isRunning(): boolean {
    return this.running;
  }

  /** Probes at once, then intervalMs after each probe finishes. Calling it twice is a no-op. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.runProbe();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.opts.clock.clearTimeout(this.nextTimer);
    this.opts.clock.clearTimeout(this.deadline);
    this.nextTimer = undefined;
    this.deadline = undefined;
    const ctl = this.inflight;
    this.inflight = undefined;
    ctl?.abort();
  }

  private runProbe(): void {
    this.nextTimer = undefined;
    if (!this.running) return;
    const ticket = ++this.generation;
    const { clock, timeoutMs } = this.opts;
    const ctl = new AbortController();
    this.inflight = ctl;
    const started = clock.now();
    this.deadline = clock.setTimeout(() => {
      if (ticket !== this.generation) return;
      this.deadline = undefined;
      ctl.abort();
      this.complete(ticket, { ok: false, detail: `timeout after ${timeoutMs}ms`, durationMs: clock.now() - started });
    }, timeoutMs);

    let pending: Promise<ProbeResult>;
    try {
      pending = this.opts.probe(ctl.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (r) => this.complete(ticket, r),
      (err: unknown) =>
        this.complete(ticket, {
          ok: false,
          detail: `probe error: ${err instanceof Error ? err.message : String(err)}`,
          durationMs: clock.now() - started,
        }),
    );
  }

  private complete(ticket: number, r: ProbeResult): void {
    if (ticket !== this.generation || !this.running) return;
    const { clock } = this.opts;
    clock.clearTimeout(this.deadline);
    this.deadline = undefined;
    this.inflight = undefined;
    // Invalidate the ticket now so nothing else from this probe can count twice.
    this.generation++;
    // Schedule before the callbacks so a throwing (or stop()-calling) callback leaves a
    // consistent loop behind.
    this.nextTimer = clock.setTimeout(() => this.runProbe(), this.opts.intervalMs);

    this.last = r;
    const wasUnknown = this.counter.state === 'unknown';
    const change = this.counter.record(r.ok);
    this.safely('onResult', () => this.opts.onResult?.(r));
    if (change) {
      this.changedAt = clock.now();
      const reason = this.reason(change, wasUnknown, r);
      this.safely('onChange', () => this.opts.onChange?.(change, reason));
    }
  }

  private reason(change: 'up' | 'down', first: boolean, r: ProbeResult): string {
    if (first) return change === 'up' ? 'first check passed' : `first check failed (${r.detail})`;
    if (change === 'up') return plural(this.counter.consecutiveOk, 'consecutive success', 'consecutive successes');
    return `${plural(this.counter.consecutiveFail, 'consecutive failure', 'consecutive failures')} (last: ${r.detail})`;
  }

  private safely(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log?.error({ err, callback: name }, 'health check callback threw');
    }
  }
}
