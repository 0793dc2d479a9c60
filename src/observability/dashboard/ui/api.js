// @ts-check
/**
 * The monitor's JSON API and its Server-Sent Events stream. The stream reconnects by itself when
 * the monitor restarts (EventSource retries a dropped connection, but gives up for good after an
 * HTTP error or a refused reconnect, so we reopen it ourselves with backoff), and a stream that
 * goes quiet for several scrape intervals is treated as dead and reopened.
 */

/**
 * @template T
 * @param {string} path
 * @param {AbortSignal} [signal]
 * @param {RequestCache} [cache] the server says no-store anyway; 'default' lets a preload be used
 * @returns {Promise<T>}
 */
export async function getJson(path, signal, cache = 'no-store') {
  const res = await fetch(path, { signal, cache });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return /** @type {Promise<T>} */ (res.json());
}

/**
 * @typedef {'connecting' | 'live' | 'stale' | 'reconnecting'} StreamState
 * @typedef {{
 *   onOverview: (o: import('./model.js').Overview) => void,
 *   onEvent: (e: import('./model.js').ApiEvent) => void,
 *   onState: (s: StreamState, info: { since: number, attempt: number }) => void,
 *   onReconnect: () => void,
 * }} StreamHandlers
 */

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;

/**
 * @param {string} url
 * @param {StreamHandlers} on
 * @returns {{ close(): void }}
 */
export function openStream(url, on) {
  /** @type {EventSource | null} */
  let es = null;
  let attempt = 0;
  let everOpened = false;
  let lastMessage = 0;
  let downSince = Date.now();
  /** @type {number[]} gaps between overview messages, to learn the scrape interval */
  const gaps = [];
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;
  /** @type {StreamState} */
  let state = 'connecting';

  /** @param {StreamState} s */
  const setState = (s) => {
    if (s === state) return;
    state = s;
    on.onState(s, { since: downSince, attempt });
  };

  const expectedGap = () => {
    if (gaps.length < 3) return 2000;
    const sorted = [...gaps].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 2000;
  };

  const connect = () => {
    clearTimeout(retryTimer);
    es?.close();
    const src = new EventSource(url);
    es = src;
    src.addEventListener('open', () => {
      if (es !== src) return;
      const wasDown = everOpened;
      everOpened = true;
      attempt = 0;
      // "live" waits for the first overview: an open stream that says nothing is not live yet.
      if (wasDown) on.onReconnect();
    });
    src.addEventListener('overview', (ev) => {
      if (es !== src) return;
      const now = Date.now();
      if (lastMessage && state === 'live') { gaps.push(now - lastMessage); if (gaps.length > 20) gaps.shift(); }
      lastMessage = now;
      setState('live');
      try { on.onOverview(JSON.parse(/** @type {MessageEvent} */ (ev).data)); } catch (err) { console.error('bad overview message', err); }
    });
    src.addEventListener('event', (ev) => {
      if (es !== src) return;
      try { on.onEvent(JSON.parse(/** @type {MessageEvent} */ (ev).data)); } catch (err) { console.error('bad event message', err); }
    });
    src.addEventListener('error', () => {
      if (es !== src) return;
      if (state === 'live' || state === 'stale') downSince = Date.now();
      setState(everOpened ? 'reconnecting' : 'connecting');
      if (src.readyState === EventSource.CLOSED) scheduleRetry();
    });
  };

  const scheduleRetry = () => {
    clearTimeout(retryTimer);
    const delay = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** attempt);
    attempt++;
    retryTimer = setTimeout(connect, delay);
  };

  // A stream can stay "open" while nothing arrives (a hung monitor, a half-open connection).
  const watchdog = setInterval(() => {
    if (!lastMessage || (state !== 'live' && state !== 'stale')) return;
    const quiet = Date.now() - lastMessage;
    const limit = Math.max(5000, 4 * expectedGap());
    if (quiet <= limit) return;
    if (state === 'live') { downSince = lastMessage; setState('stale'); }
    if (quiet > 2 * limit) { lastMessage = Date.now(); connect(); }
  }, 1000);

  connect();
  return {
    close() {
      clearInterval(watchdog);
      clearTimeout(retryTimer);
      es?.close();
    },
  };
}
