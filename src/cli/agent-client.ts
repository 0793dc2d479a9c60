/**
 * Calls to node agent APIs from the CLI: JSON in, JSON out, short timeouts, over mutual TLS with
 * the admin certificate (issued on first use on the machine that holds the cluster CA).
 */
import type { ClusterSpec, NodeSpec } from '../config/types.js';
import { AgentClient, AgentUnreachable } from '../control-plane/agent-api/index.js';
import { adminCredentials } from '../control-plane/certs/index.js';

export interface AgentReply<T = unknown> {
  ok: boolean;
  status: number;
  body: T | undefined;
  error?: string;
}

const clients = new Map<string, Promise<AgentClient>>();

/** The admin's client for this cluster, one per state folder for the life of the command. */
function adminAgents(spec: ClusterSpec): Promise<AgentClient> {
  let c = clients.get(spec.stateDir);
  if (!c) {
    c = adminCredentials(spec).then((creds) => new AgentClient(creds));
    clients.set(spec.stateDir, c);
  }
  return c;
}

/** Lets the process exit without waiting for idle keep-alive sockets. */
export async function closeAdminAgents(): Promise<void> {
  for (const c of clients.values()) (await c.catch(() => undefined))?.close();
  clients.clear();
}

export async function callAgent<T = unknown>(spec: ClusterSpec, node: NodeSpec, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 2000): Promise<AgentReply<T>> {
  const agents = await adminAgents(spec);
  try {
    const res = await agents.json<T>(node, path, { method, timeoutMs, ...(body !== undefined && { body }) });
    const ok = res.status >= 200 && res.status < 300;
    const parsed = res.body as unknown;
    const err = !ok && parsed && typeof parsed === 'object' && 'error' in parsed ? String((parsed as { error: unknown }).error) : undefined;
    return { ok, status: res.status, body: res.body, ...(err ? { error: err } : {}) };
  } catch (err) {
    const reason = err instanceof AgentUnreachable && err.reason === 'timeout' ? `no answer within ${timeoutMs}ms` : (err as Error).message;
    return { ok: false, status: 0, body: undefined, error: `agent of ${node.name} unreachable at ${node.address}:${node.agentPort} (${reason})` };
  }
}
