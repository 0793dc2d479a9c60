/**
 * Log at most `perSecond` lines per key per second, so that a flood of refusals cannot flood the
 * log; when a second ends with lines held back, one line says how many ("N more like this
 * suppressed in the last second"), written when that second ends even if no further line comes.
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { Logger } from './log.js';

interface Window {
  second: number;
  count: number;
  suppressed: number;
  timer: TimerHandle | undefined;
}

export class SampledLogger {
  private readonly windows = new Map<string, Window>();
  constructor(private readonly log: Logger, private readonly perSecond = 5, private readonly clock: Clock = systemClock) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock.now();
    const second = Math.floor(now / 1000);
    let w = this.windows.get(key);
    if (!w || w.second !== second) {
      if (w) this.report(key, w);
      w = { second, count: 0, suppressed: 0, timer: undefined };
      this.windows.set(key, w);
    }
    if (w.count++ < this.perSecond) {
      this.log.warn(fields, msg);
      return;
    }
    // The first line held back in this second: say how many at its end.
    if (w.suppressed++ === 0) {
      const win = w;
      win.timer = this.clock.setTimeout(() => this.report(key, win), (second + 1) * 1000 - now);
    }
  }

  /** The window is over: write the count it held back, and forget it (a quiet key holds nothing). */
  private report(key: string, w: Window): void {
    this.clock.clearTimeout(w.timer);
    w.timer = undefined;
    if (w.suppressed > 0) {
      this.log.warn({ reason: key, suppressed: w.suppressed }, `${w.suppressed} more like this suppressed in the last second (${key})`);
      w.suppressed = 0;
    }
    if (w.second < Math.floor(this.clock.now() / 1000)) this.windows.delete(key);
  }
}
