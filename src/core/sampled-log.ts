/** Log at most `perSecond` lines per key per second; report how many were suppressed. */
import type { Logger } from './log.js';

export class SampledLogger {
  private readonly windows = new Map<string, { second: number; count: number; suppressed: number }>();
  constructor(private readonly log: Logger, private readonly perSecond = 5) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const second = Math.floor(Date.now() / 1000);
    let w = this.windows.get(key);
    if (!w || w.second !== second) {
      if (w && w.suppressed > 0) this.log.warn({ reason: key, suppressed: w.suppressed }, 'similar log lines suppressed');
      w = { second, count: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.count++ < this.perSecond) this.log.warn(fields, msg);
    else w.suppressed++;
  }
}
