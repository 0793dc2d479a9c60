/**
 * Passive health (outlier ejection): live traffic reports each exchange, and a server that fails
 * `consecutiveFailures` times in a row is taken out for a while without waiting for the active
 * checker's fall count. success/failure/isEjected run per request, so they allocate nothing.
 *
 * Backoff rule. The n-th consecutive ejection lasts min(ejectMs * 2^(n-1), maxEjectMs). Ejections
 * stop being "consecutive" (the multiplier resets to the first step) once the server has served
 * a success at or after `ejectedUntil + quiet`, where `quiet` is the length of the ejection that
 * just ended: a server must behave for as long as it was out before it is forgiven. Failures
 * that never reach the threshold do not block the reset; only another ejection does. With no
 * traffic there is no evidence either way, so the multiplier is kept.
 *
 * Failures reported while ejected come from requests already in flight at ejection time; they
 * say nothing new and are ignored, so they can neither extend the ejection nor pre-load the next.
 */
import type { Clock } from '../../core/clock.js';
import type { PassiveHealthSpec } from '../../config/types.js';

export class PassiveHealth {
  private current: PassiveHealthSpec;
  private readonly clock: Clock;
  private fails = 0;
  /** 0 when never ejected (ejections always end after time 0, since ejectMs > 0). */
  private until = 0;
  /** Length of the latest ejection; also the quiet period that resets the multiplier. */
  private lastEjectMs = 0;
  /** Ejections so far in the current streak; the next one lasts ejectMs * 2^streak. */
  private streak = 0;
  private count = 0;
  private reason: string | undefined;

  constructor(spec: PassiveHealthSpec, clock: Clock) {
    PassiveHealth.validate(spec);
    this.current = spec;
    this.clock = clock;
  }

  private static validate(spec: PassiveHealthSpec): void {
    if (spec.enabled) {
      if (!Number.isInteger(spec.consecutiveFailures) || spec.consecutiveFailures < 1) {
        throw new RangeError(`consecutiveFailures must be an integer >= 1 (got ${spec.consecutiveFailures})`);
      }
      if (!(spec.ejectMs > 0)) throw new RangeError(`ejectMs must be > 0 (got ${spec.ejectMs})`);
      if (!(spec.maxEjectMs >= spec.ejectMs)) {
        throw new RangeError(`maxEjectMs (${spec.maxEjectMs}) must be >= ejectMs (${spec.ejectMs})`);
      }
    }
  }

  get spec(): PassiveHealthSpec {
    return this.current;
  }

  /**
   * New limits from a config reload. The server object (and so this state) survives a reload, so
   * an ejection in progress keeps its end time; the new numbers apply from the next failure.
   * Turning passive health off ends an ejection at once: the operator has said not to trust it.
   */
  reconfigure(spec: PassiveHealthSpec): void {
    PassiveHealth.validate(spec);
    this.current = spec;
    if (!spec.enabled) {
      this.fails = 0;
      this.streak = 0;
      const now = this.clock.now();
      if (this.until > now) this.until = now;
    }
  }

  /**
   * End an ejection now: an active health check has just seen the server recover (down → up after
   * `rise` successes), which is stronger evidence than the ejection's timer. The backoff level is
   * kept, so a server that fails again right away is ejected for longer.
   */
  reinstate(): void {
    this.fails = 0;
    const now = this.clock.now();
    if (this.until > now) this.until = now;
  }

  success(): void {
    this.fails = 0;
    if (this.streak > 0 && this.clock.now() >= this.until + this.lastEjectMs) this.streak = 0;
  }

  /** Returns true when this failure ejected the server. */
  failure(reason: string): boolean {
    this.reason = reason;
    if (!this.current.enabled) return false;
    const now = this.clock.now();
    if (now < this.until) return false;
    if (++this.fails < this.current.consecutiveFailures) return false;
    // 2^streak overflows to Infinity long after it passes any sane max; min() clamps either way.
    const ms = Math.min(this.current.ejectMs * 2 ** this.streak, this.current.maxEjectMs);
    this.until = now + ms;
    this.lastEjectMs = ms;
    this.streak++;
    this.count++;
    this.fails = 0;
    return true;
  }

  isEjected(): boolean {
    return this.until > this.clock.now();
  }

  /** Clock time the latest ejection ends (or ended); undefined if never ejected. */
  get ejectedUntil(): number | undefined {
    return this.until > 0 ? this.until : undefined;
  }
  /** Total ejections over this object's life. */
  get ejections(): number {
    return this.count;
  }
  /** Reason given with the latest failure. */
  get lastReason(): string | undefined {
    return this.reason;
  }
  get consecutiveFailures(): number {
    return this.fails;
  }
  /** Multiplier step the next ejection would use (0 = ejectMs). */
  get backoffLevel(): number {
    return this.streak;
  }
}
