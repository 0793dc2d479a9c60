/**
 * The HAProxy rise/fall counter. Flapping servers are the reason it exists: one lost packet
 * should not pull a healthy server, and one lucky answer should not put a sick one back.
 */
export type HealthState = 'unknown' | 'up' | 'down';

function checkThreshold(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be an integer >= 1 (got ${n})`);
}

export class RiseFall {
  readonly rise: number;
  readonly fall: number;
  private current: HealthState = 'unknown';
  private ok = 0;
  private fail = 0;

  constructor(rise: number, fall: number) {
    checkThreshold('rise', rise);
    checkThreshold('fall', fall);
    this.rise = rise;
    this.fall = fall;
  }

  /**
   * A copy of `prev` under new thresholds, for a config reload. A copy rather than `prev` itself
   * so a predecessor that has not quite stopped cannot keep moving the successor's counters.
   * Streaks carry over and are compared with `>=`, so lowering a threshold takes effect on the
   * next result instead of being stranded above it.
   */
  static adopt(prev: RiseFall, rise = prev.rise, fall = prev.fall): RiseFall {
    const next = new RiseFall(rise, fall);
    next.current = prev.current;
    next.ok = prev.ok;
    next.fail = prev.fail;
    return next;
  }

  get state(): HealthState {
    return this.current;
  }
  get consecutiveOk(): number {
    return this.ok;
  }
  get consecutiveFail(): number {
    return this.fail;
  }

  /** Returns the new state only when this result changed it. */
  record(ok: boolean): 'up' | 'down' | undefined {
    if (ok) {
      this.ok++;
      this.fail = 0;
    } else {
      this.fail++;
      this.ok = 0;
    }
    switch (this.current) {
      case 'unknown':
        // No history to protect: a new server serves at once, a dead one is out after one check.
        this.current = ok ? 'up' : 'down';
        return this.current;
      case 'up':
        if (this.fail >= this.fall) {
          this.current = 'down';
          return 'down';
        }
        return undefined;
      case 'down':
        if (this.ok >= this.rise) {
          this.current = 'up';
          return 'up';
        }
        return undefined;
    }
  }
}
