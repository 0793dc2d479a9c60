/**
 * Reachability probes for `bulwark firewall verify`: each node's agent tries TCP connections to
 * the addresses it is asked about and reports what happened. A connect that times out means a
 * firewall dropped it; a refusal means the packet got through to a host with nothing listening.
 */
import net from 'node:net';
import { isIP } from 'node:net';
import type { Clock } from '../../core/clock.js';
import { ApiError, type AgentApi } from '../agent-api/index.js';

export type ProbeResult = 'open' | 'refused' | 'timeout' | 'error';

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

function probe(t: ProbeTarget, timeoutMs: number, clock: Clock): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host: t.host, port: t.port });
    const done = (r: ProbeResult): void => {
      clock.clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = clock.setTimeout(() => done('timeout'), timeoutMs);
    s.once('connect', () => done('open'));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ETIMEDOUT' ? 'timeout' : 'error'));
  });
}

/**
 * One verify request carries every target of one prober: (nodes − 1) × cluster ports, e.g. 80
 * nodes × 12 ports. At most IN_FLIGHT connects are open at once (file descriptors: a service's
 * soft limit is often 1024), so a request takes at most ⌈targets / IN_FLIGHT⌉ timeouts.
 */
export const MAX_PROBE_TARGETS = 1024;
const IN_FLIGHT = 128;

/** Results in the order of `items`, with at most `limit` of `fn` pending at a time. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `POST /firewall/probe` {targets: [{host, port}], timeoutMs?} → {results: [...]} on every node. */
export function mountProbeApi(api: AgentApi, clock: Clock): void {
  api.route('POST', '/firewall/probe', async (req) => {
    const body = req.body as { targets?: unknown; timeoutMs?: unknown } | undefined;
    const targets = body?.targets;
    if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_PROBE_TARGETS) {
      throw new ApiError(400, `body must be {"targets": [{"host": "<ip>", "port": <port>}, …]} with 1 to ${MAX_PROBE_TARGETS} targets`);
    }
    for (const t of targets as { host?: unknown; port?: unknown }[]) {
      if (typeof t?.host !== 'string' || isIP(t.host) === 0 || !Number.isInteger(t.port) || (t.port as number) < 1 || (t.port as number) > 65535) {
        throw new ApiError(400, `each target needs an IP address "host" and a "port" 1–65535, got ${JSON.stringify(t)}`);
      }
    }
    const timeoutMs = typeof body?.timeoutMs === 'number' && body.timeoutMs > 0 && body.timeoutMs <= 5000 ? body.timeoutMs : 800;
    const results = await mapLimited(targets as ProbeTarget[], IN_FLIGHT, async (t) => ({ host: t.host, port: t.port, result: await probe(t, timeoutMs, clock) }));
    return { status: 200, body: { results } };
  });
}
