/**
 * Polling instead of sleeping: `await eventually(() => { assert…; return value; })` retries fn
 * until it returns (or resolves) without throwing, and fails with fn's last error when the
 * time is up. Each attempt is awaited before the next, so a slow fn never overlaps itself.
 */
export interface EventuallyOptions {
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number;
  /** Pause between attempts (default 25 ms). */
  readonly intervalMs?: number;
  /** Prefixed to the error when giving up. */
  readonly message?: string;
}

export async function eventually<T>(fn: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) {
        const last = err instanceof Error ? err.message : String(err);
        const what = opts.message ? `${opts.message}: ` : '';
        throw new Error(`${what}condition not met within ${timeoutMs}ms (${attempts} attempts); last error: ${last}`, {
          cause: err,
        });
      }
    }
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
