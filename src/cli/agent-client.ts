/** Calls to node agent APIs from the CLI (and from tests): JSON in, JSON out, short timeouts. */
import type { NodeSpec } from '../config/types.js';
import { agentUrl } from '../control-plane/agent-api/index.js';

export interface AgentReply<T = unknown> {
  ok: boolean;
  status: number;
  body: T | undefined;
  error?: string;
}

export async function callAgent<T = unknown>(node: NodeSpec, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 2000): Promise<AgentReply<T>> {
  try {
    const res = await fetch(agentUrl(node, path), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    const err = !res.ok && parsed && typeof parsed === 'object' && 'error' in parsed ? String((parsed as { error: unknown }).error) : undefined;
    return { ok: res.ok, status: res.status, body: parsed as T, ...(err ? { error: err } : {}) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs}ms` : (e.cause?.code ?? e.message);
    return { ok: false, status: 0, body: undefined, error: `agent of ${node.name} unreachable at ${node.address}:${node.agentPort} (${reason})` };
  }
}
