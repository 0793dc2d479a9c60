/** POST of a notification to a webhook: JSON, bounded by the receiver's timeout, 2xx or it failed. */
import http from 'node:http';
import https from 'node:https';
import type { ReceiverSpec } from '../../config/types.js';
import type { WebhookPayload } from './notifier.js';

export function postWebhook(receiver: ReceiverSpec, payload: WebhookPayload): Promise<void> {
  const url = new URL(receiver.url);
  const body = Buffer.from(JSON.stringify(payload));
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<void>((resolve, reject) => {
    const req = mod.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': 'bulwark-monitor' },
      // An I/O bound on a peer, not a decision: the socket lives in real time.
      signal: AbortSignal.timeout(receiver.timeoutMs),
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const s = res.statusCode ?? 0;
        if (s >= 200 && s < 300) resolve();
        else reject(new Error(`${receiver.url} answered HTTP ${s}`));
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`${receiver.url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    req.end(body);
  });
}
