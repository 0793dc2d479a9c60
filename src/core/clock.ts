/**
 * Time as a dependency. Decision logic (health state machines, HA loops, rate limits) takes a
 * Clock so tests drive it with a ManualClock, exactly and in milliseconds, instead of sleeping.
 */
export interface TimerHandle {
  /** Opaque; only meaningful to the clock that created it. */
  readonly id: number;
}

export interface Clock {
  /** Milliseconds since the epoch (wall clock; used for timestamps and durations alike). */
  now(): number;
  /** Run fn once after ms. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

interface RealHandle extends TimerHandle {
  timer: NodeJS.Timeout;
}

/** The process clock. Timers are unref'd: a pending timer never keeps a process alive by itself. */
export class SystemClock implements Clock {
  private nextId = 1;
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = setTimeout(fn, Math.max(0, ms));
    timer.unref();
    const handle: RealHandle = { id: this.nextId++, timer };
    return handle;
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle && 'timer' in handle) clearTimeout((handle as RealHandle).timer);
  }
}

export const systemClock: Clock = new SystemClock();

interface PendingTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer that falls due, in due
 * order (ties in creation order), with now() equal to each timer's due time while it runs, so a
 * callback that schedules another timer sees consistent time. Time never goes backwards.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private nextId = 1;
  private timers: PendingTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }
  now(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: PendingTimer = { id: this.nextId++, at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(t);
    return { id: t.id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }
  /** Number of timers not yet fired. */
  pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('ManualClock cannot go back in time');
    const target = this.current + ms;
    for (;;) {
      const due = this.nextDue(target);
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = due.at;
      due.fn();
    }
    this.current = target;
  }
  /** Advance to the next due timer (if any) and fire it; returns false when nothing is pending. */
  step(): boolean {
    const due = this.nextDue(Infinity);
    if (!due) return false;
    this.advance(due.at - this.current);
    return true;
  }
  private nextDue(limit: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Resolve after ms on the given clock (for loops, not for tests: tests advance a ManualClock). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
