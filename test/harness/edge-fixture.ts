/**
 * A real Edge in-process on 127.0.0.1. Specs are written as plain objects in the cluster file's
 * YAML spelling (JSON is YAML) and go through the real config loader, so every default applies.
 */
import { Registry } from 'prom-client';
import { parseClusterText } from '../../src/config/index.js';
import type { EdgeSpec } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { isBulwarkError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { Edge } from '../../src/data-plane/edge/edge.js';
import { HOST, randomPort } from './ports.js';
import type { CertificateStore } from '../../src/data-plane/tls/index.js';
import type { AccessLog } from '../../src/observability/access-log.js';

/** The `edge:` section without `vip` (snake_case keys, durations like "500ms"). */
export interface EdgeYaml {
  tls?: Record<string, unknown>;
  frontends: Record<string, unknown>[];
  backends: Record<string, unknown>[];
}

export function edgeSpec(edge: EdgeYaml): EdgeSpec {
  const cluster = {
    cluster: 'edge-it',
    nodes: [{ name: 'lb-1', role: 'lb', address: HOST }],
    edge: { vip: '127.0.0.9', ...edge },
  };
  return parseClusterText(JSON.stringify(cluster, null, 1), '/tmp/edge-it/bulwark.yaml').edge;
}

export interface RunningEdge {
  edge: Edge;
  /** The frontend port chosen. */
  port: number;
  spec: EdgeSpec;
  stop(): Promise<void>;
}

/**
 * Start an edge whose first frontend listens on a random free port; `build(port)` gives the
 * edge section for that port. Retries with another port when the one picked is taken.
 */
export async function startEdge(
  build: (port: number) => EdgeYaml,
  opts: { graceMs?: number; certificates?: CertificateStore; registry?: Registry; accessLog?: AccessLog; bindHosts?: string[] } = {},
): Promise<RunningEdge> {
  let lastErr: unknown;
  for (let i = 0; i < 30; i++) {
    const port = randomPort();
    const spec = edgeSpec(build(port));
    const edge = new Edge(spec, {
      bindHosts: opts.bindHosts ?? [HOST], clock: systemClock, log: silentLogger(), registry: opts.registry ?? new Registry(), graceMs: opts.graceMs ?? 200,
      ...(opts.certificates && { certificates: opts.certificates }),
      ...(opts.accessLog && { accessLog: opts.accessLog }),
    });
    try {
      await edge.start();
    } catch (err) {
      lastErr = err;
      if (isBulwarkError(err) && err.code === 'BWK_LISTEN_FAILED' && /in use/.test(err.message)) continue;
      throw err;
    }
    let stopped = false;
    return {
      edge, port, spec,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await edge.stop(200);
      },
    };
  }
  throw new Error(`could not start the edge on a free port: ${String(lastErr)}`);
}

/** The status entry of one server. */
export function serverStatus(edge: Edge, backend: string, server: string) {
  const b = edge.status().backends.find((x) => x.name === backend);
  const s = b?.servers.find((x) => x.name === server);
  if (!s) throw new Error(`no server ${backend}/${server} in status`);
  return s;
}

/** A fast HTTP health check section (interval/timeout in ms). */
export function fastCheck(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { path: '/healthz', interval: '100ms', timeout: '80ms', rise: 1, fall: 1, ...over };
}

/** A health check that probes once at start and then (practically) never again. */
export function lazyCheck(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'tcp', interval: '1h', timeout: '1s', rise: 1, fall: 1, ...over };
}
