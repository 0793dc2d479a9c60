import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { drainOnEveryLb, serverOnLbs } from '../drain-ops.js';
import { pollUntil } from '../poll.js';
import { BulwarkError } from '../../core/errors.js';

export const drain: Verb = {
  name: 'drain',
  summary: 'Drain a server on every load balancer: no new requests, in-flight ones finish. --undo puts it back.',
  args: 'SERVER',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION,
    undo: { type: 'boolean', description: 'put the server back in service' },
    wait: { type: 'boolean', description: 'wait until no request is in flight on the server' },
  },
  async run(parsed) {
    const spec = loadSpec(parsed);
    const server = parsed.positionals[0]!;
    if (!spec.edge || !spec.edge.backends.some((b) => b.servers.some((s) => s.name === server))) {
      const names = [...new Set(spec.edge?.backends.flatMap((b) => b.servers.map((s) => s.name)) ?? [])];
      throw new BulwarkError('BWK_SERVER_UNKNOWN', `no backend has a server named ${JSON.stringify(server)} (servers: ${names.join(', ') || 'none'})`);
    }
    const on = !parsed.values['undo'];
    const replies = await drainOnEveryLb(spec, server, on);
    let failed = 0;
    for (const { lb, reply: r } of replies) {
      if (r.ok) console.log(`${lb.name}: ${server} ${on ? 'draining' : 'in service'} (${r.body!.changed.map((c) => `${c.backend}: ${c.active} in flight`).join(', ')})`);
      else {
        failed++;
        console.error(`${lb.name}: ${r.error ?? `HTTP ${r.status}`}`);
      }
    }
    if (on && parsed.values['wait']) {
      let left = 0;
      const drained = await pollUntil(async () => (left = (await serverOnLbs(spec, server)).inflight) === 0, 60_000);
      if (!drained) {
        console.error(`${server} still has ${left} request(s) in flight after 60s`);
        return 1;
      }
      console.log(`${server} drained: no request in flight`);
    }
    return failed === replies.length ? 1 : 0;
  },
};
