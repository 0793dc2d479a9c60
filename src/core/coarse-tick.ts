/**
 * One shared, coarse timer for the hot path (the idea of undici's lib/util/timers.js): instead of
 * arming a timer per request or per socket, connections carry a deadline number and one interval
 * scans them. A request's timeout then costs one property write, and resolution is TICK_MS.
 */
export const TICK_MS = 100;

export interface TickSubscriber {
  onTick(now: number): void;
}

const subscribers = new Set<TickSubscriber>();
let timer: NodeJS.Timeout | undefined;
let cachedNow = Date.now();

/** Milliseconds since the epoch, updated every tick (and on subscribe): cheap on the hot path. */
export function coarseNow(): number {
  return cachedNow;
}

export function subscribeTick(s: TickSubscriber): () => void {
  subscribers.add(s);
  cachedNow = Date.now();
  if (!timer) {
    timer = setInterval(() => {
      cachedNow = Date.now();
      for (const sub of subscribers) sub.onTick(cachedNow);
    }, TICK_MS);
    timer.unref();
  }
  return () => {
    subscribers.delete(s);
    if (subscribers.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
