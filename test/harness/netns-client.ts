/**
 * The lab's client: runs a retrying load against a URL from inside a client namespace until
 * SIGTERM (or maxMs), then prints its result as one JSON line.
 * Usage: node netns-client.js URL MAX_MS
 */
import { startRetryingLoad } from './retrying-load.js';

const [url, maxMs] = process.argv.slice(2);
if (!url || !maxMs) {
  console.error('usage: netns-client URL MAX_MS');
  process.exit(2);
}
const load = startRetryingLoad(url, { concurrency: 4, maxMs: Number(maxMs) });
const finish = async (): Promise<void> => {
  console.log(JSON.stringify(await load.stop()));
  process.exit(0);
};
process.on('SIGTERM', () => void finish());
setTimeout(() => void finish(), Number(maxMs)).unref();
