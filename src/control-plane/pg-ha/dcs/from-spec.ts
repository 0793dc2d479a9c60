/** The DCS a member uses, from the cluster file (the only place that picks a backend). */
import type { ClusterSpec } from '../../../config/types.js';
import type { Clock } from '../../../core/clock.js';
import type { Dcs } from './types.js';
import { agentUrl, type AgentClient } from '../../agent-api/index.js';
import { EmbeddedDcsClient } from './embedded-client.js';
import { EtcdDcs } from './etcd.js';

export function dcsFromSpec(spec: ClusterSpec, clock: Clock, agents: AgentClient): Dcs {
  const db = spec.database;
  if (!db) throw new Error('the cluster file has no database section');
  // Every call must end well inside one TTL so a stuck store cannot outlast the fencing deadline.
  const timeoutMs = Math.max(200, Math.min(2000, Math.floor(db.ttlMs / 3)));
  if (db.dcs.type === 'etcd') return new EtcdDcs({ endpoints: db.dcs.endpoints, cluster: spec.cluster, timeoutMs, clock });
  const hostName = db.dcs.node;
  const host = spec.nodes.find((n) => n.name === hostName)!;
  return new EmbeddedDcsClient({ baseUrl: agentUrl(host), cluster: spec.cluster, timeoutMs, clock, agents });
}
