import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { callAgent } from '../agent-client.js';
import { BulwarkError } from '../../core/errors.js';
import { findNode } from '../../config/index.js';

export const switchover: Verb = {
  name: 'switchover',
  summary: 'Planned change of the database primary: no lost write, about a second of write pause.',
  options: { config: CONFIG_OPTION, to: { type: 'string', description: 'the member to promote (default: the best replica)', valueName: 'MEMBER' } },
  details: 'The primary stops taking writes, hands the leader lock to the target (a streaming sync standby in sync mode), which promotes at once.',
  async run(parsed) {
    const spec = loadSpec(parsed);
    const to = parsed.values['to'];
    if (typeof to === 'string' && findNode(spec, to).role !== 'db') throw new BulwarkError('BWK_USAGE', `bulwark switchover: ${to} is not a db node`);
    const members = spec.nodes.filter((n) => n.role === 'db');
    if (members.length === 0) throw new BulwarkError('BWK_USAGE', 'bulwark switchover: the cluster has no db nodes');
    let last = 'no db member answered';
    for (const m of members) {
      const r = await callAgent<{ from: string; to: string; ms: number }>(m, 'POST', '/switchover', typeof to === 'string' ? { to } : {}, 20_000);
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
