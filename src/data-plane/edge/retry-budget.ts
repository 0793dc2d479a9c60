/**
 * Retries may add at most `ratio` of the recent request rate plus `minPerSecond` (Envoy/Finagle
 * style), so a sick backend is not hit by a retry storm. Counted in one-second buckets over a
 * ten-second window.
 */
const WINDOW = 10;

export class RetryBudget {
  private readonly requests = new Uint32Array(WINDOW);
  private readonly retries = new Uint32Array(WINDOW);
  private second = 0;

  constructor(private ratio: number, private minPerSecond: number) {}

  update(ratio: number, minPerSecond: number): void {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
  }

  private roll(nowMs: number): number {
    const s = Math.floor(nowMs / 1000);
    if (s !== this.second) {
      const gap = Math.min(WINDOW, s - this.second);
      for (let i = 1; i <= gap; i++) {
        const b = (this.second + i) % WINDOW;
        this.requests[b] = 0;
        this.retries[b] = 0;
      }
      this.second = s;
    }
    return s % WINDOW;
  }

  recordRequest(nowMs: number): void {
    this.requests[this.roll(nowMs)]!++;
  }

  /** Takes a retry token when the budget allows one. */
  tryRetry(nowMs: number): boolean {
    const b = this.roll(nowMs);
    let req = 0;
    let ret = 0;
    for (let i = 0; i < WINDOW; i++) {
      req += this.requests[i]!;
      ret += this.retries[i]!;
    }
    if (ret >= this.ratio * req + this.minPerSecond * WINDOW) return false;
    this.retries[b]!++;
    return true;
  }
}
