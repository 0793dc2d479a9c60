/** Draining a server on every lb, and waiting for it: shared by `bulwark drain` and `bulwark deploy app`. */
import type { ClusterSpec, NodeSpec } from '../config/types.js';
import { nodesWithRole } from '../config/index.js';
import { callAgent, type AgentReply } from './agent-client.js';

interface LbServers { lb?: { backends: { servers: { name: string; active: number; up: boolean }[] }[] } }

/** Drain (or undrain) `server` on every lb; one reply per lb, in order. */
export async function drainOnEveryLb(spec: ClusterSpec, server: string, on: boolean): Promise<{ lb: NodeSpec; reply: AgentReply<{ changed: { backend: string; active: number }[] }> }[]> {
  const lbs = nodesWithRole(spec, 'lb');
  const replies = await Promise.all(lbs.map((n) => callAgent<{ changed: { backend: string; active: number }[] }>(spec, n, 'POST', '/drain', { server, drain: on })));
  return replies.map((reply, i) => ({ lb: lbs[i]!, reply }));
}

/** The server as every answering lb sees it: requests in flight, and whether all of them count it up. */
export async function serverOnLbs(spec: ClusterSpec, server: string): Promise<{ inflight: number; upEverywhere: boolean; answered: number }> {
  const replies = await Promise.all(nodesWithRole(spec, 'lb').map((n) => callAgent<LbServers>(spec, n, 'GET', '/status')));
  let inflight = 0;
  let upEverywhere = true;
  let answered = 0;
  for (const r of replies) {
    const mine = r.body?.lb?.backends.flatMap((b) => b.servers).filter((s) => s.name === server);
    if (!mine) continue;
    answered++;
    inflight += mine.reduce((a, s) => a + s.active, 0);
    if (mine.some((s) => !s.up)) upEverywhere = false;
  }
  return { inflight, upEverywhere: upEverywhere && answered > 0, answered };
}
