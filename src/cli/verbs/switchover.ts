import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { callAgent } from '../agent-client.js';
import { BulwarkError } from '../../core/errors.js';
import { findNode, nodesWithRole, type ClusterSpec } from '../../config/index.js';

export const switchover: Verb = {
  name: 'switchover',
  summary: 'Planned change of the database primary (or, with --edge, of the lb holding the VIP).',
  options: {
    config: CONFIG_OPTION,
    to: { type: 'string', description: 'the member to promote (default: the best replica)', valueName: 'MEMBER' },
    edge: { type: 'boolean', description: 'move the VIP to the other lb instead' },
  },
  details: 'Database: the primary stops taking writes, hands the leader lock to the target (a streaming sync standby in sync mode), which promotes at once: no lost write, about a second of write pause.\n'
    + 'Edge (--edge): the active lb hands its lease to the healthy passive, which binds the VIP within a heartbeat or two; clients that retry a refused connect see no failure.',
  async run(parsed) {
    const spec = loadSpec(parsed);
    const to = parsed.values['to'];
    if (parsed.values['edge'] === true) {
      if (typeof to === 'string') throw new BulwarkError('BWK_USAGE', 'bulwark switchover --edge: --to is for the database; the VIP goes to the best ready lb');
      return edgeSwitchover(spec);
    }
    if (typeof to === 'string' && findNode(spec, to).role !== 'db') throw new BulwarkError('BWK_USAGE', `bulwark switchover: ${to} is not a db node`);
    const members = spec.nodes.filter((n) => n.role === 'db');
    if (members.length === 0) throw new BulwarkError('BWK_USAGE', 'bulwark switchover: the cluster has no db nodes');
    let last = 'no db member answered';
    for (const m of members) {
      const r = await callAgent<{ from: string; to: string; ms: number }>(spec, m, 'POST', '/switchover', typeof to === 'string' ? { to } : {}, 20_000);
      if (r.ok) {
        console.log(`switchover done: ${r.body!.from} → ${r.body!.to} in ${r.body!.ms}ms`);
        return 0;
      }
      last = r.error ?? `HTTP ${r.status}`;
      if (r.status !== 0) break; // the member answered with a reason: that is the answer
    }
    console.error(`switchover failed: ${last}`);
    return 1;
  },
};

async function edgeSwitchover(spec: ClusterSpec): Promise<number> {
  const lbs = nodesWithRole(spec, 'lb');
  if (lbs.length < 2) throw new BulwarkError('BWK_USAGE', `bulwark switchover --edge: the cluster has ${lbs.length} lb node(s); a hand-over needs two`);
  const replies = await Promise.all(lbs.map((n) => callAgent<{ lb?: { holdsVip?: boolean } }>(spec, n, 'GET', '/status')));
  const active = lbs.find((_, i) => replies[i]!.body?.lb?.holdsVip === true);
  if (!active) {
    console.error('switchover failed: no lb holds the VIP right now (see bulwark status)');
    return 1;
  }
  const r = await callAgent<{ from: string; to: string; ms: number }>(spec, active, 'POST', '/standby/switchover', {}, 10_000);
  if (!r.ok) {
    console.error(`switchover failed: ${r.error ?? `HTTP ${r.status}`}`);
    return 1;
  }
  console.log(`VIP handed over: ${r.body!.from} → ${r.body!.to} (${r.body!.from} stepped down in ${r.body!.ms}ms)`);
  return 0;
}
