/**
 * One scrape round: every node's GET /metrics and GET /status over mutual TLS (the monitor's
 * certificate), in parallel, each bounded by the scrape timeout. A node is up when its metrics
 * scrape succeeded, like Prometheus's `up`; /status only feeds the topology. Rounds never overlap:
 * the next starts one interval after this one started, or at once when this one ran late.
 */
import type { NodeSpec } from '../../config/types.js';
import type { AgentClient } from '../../control-plane/agent-api/index.js';
import type { Labels } from '../promql/evaluate.js';
import type { RawSample } from '../store/series-store.js';
import { parseTextFormat } from './text-format.js';

export interface TargetResult {
  readonly node: NodeSpec;
  readonly up: boolean;
  /** Why it is down. */
  readonly error?: string;
  readonly samples: RawSample[] | null;
  /** The node's GET /status body, when it answered. */
  readonly status?: Record<string, unknown>;
  /** lb nodes with an edge firewall: their current bans. */
  readonly bans?: { frontend: string; client: string; until: string }[];
  readonly durationMs: number;
}

export interface Round {
  /** When the round started (ms). */
  readonly t: number;
  readonly targets: TargetResult[];
}

export interface ScrapeOptions {
  readonly agents: AgentClient;
  readonly timeoutMs: number;
  readonly cluster: string;
  /** Also read GET /firewall/bans of lb nodes. */
  readonly bans: boolean;
  readonly now: () => number;
}

/** The synthetic `up` series of a target, labelled as Prometheus would with our scrape config. */
export function upSample(cluster: string, node: NodeSpec, up: boolean): RawSample {
  const host = node.address.includes(':') ? `[${node.address}]` : node.address;
  const labels: Labels = { job: 'bulwark', instance: `${host}:${node.agentPort}`, node: node.name, role: node.role, cluster };
  return { name: 'up', labels, value: up ? 1 : 0 };
}

export async function scrapeNode(node: NodeSpec, o: ScrapeOptions, signal?: AbortSignal): Promise<TargetResult> {
  const started = o.now();
  const call = { timeoutMs: o.timeoutMs, ...(signal && { signal }) };
  const [metrics, status, bans] = await Promise.allSettled([
    o.agents.request(node, '/metrics', call),
    o.agents.json<Record<string, unknown>>(node, '/status', call),
    o.bans && node.role === 'lb' ? o.agents.json<{ bans: TargetResult['bans'] }>(node, '/firewall/bans', call) : Promise.resolve(undefined),
  ]);
  const durationMs = o.now() - started;
  const extra = {
    ...(status.status === 'fulfilled' && status.value.status === 200 && typeof status.value.body === 'object' && { status: status.value.body }),
    ...(bans.status === 'fulfilled' && bans.value?.status === 200 && { bans: bans.value.body.bans ?? [] }),
  };
  if (metrics.status === 'rejected') return { node, up: false, error: (metrics.reason as Error).message, samples: null, durationMs, ...extra };
  if (metrics.value.status !== 200) return { node, up: false, error: `GET /metrics answered HTTP ${metrics.value.status}`, samples: null, durationMs, ...extra };
  try {
    const exp = parseTextFormat(metrics.value.text);
    return { node, up: true, samples: exp.samples, durationMs, ...extra };
  } catch (err) {
    return { node, up: false, error: `GET /metrics is not valid Prometheus text: ${(err as Error).message}`, samples: null, durationMs, ...extra };
  }
}

export async function scrapeRound(nodes: readonly NodeSpec[], o: ScrapeOptions, signal?: AbortSignal): Promise<Round> {
  const t = o.now();
  const targets = await Promise.all(nodes.map((n) => scrapeNode(n, o, signal)));
  return { t, targets };
}
