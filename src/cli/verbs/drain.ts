import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { callAgent } from '../agent-client.js';
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
    const lbs = spec.nodes.filter((n) => n.role === 'lb');
    const on = !parsed.values['undo'];
    const replies = await Promise.all(lbs.map((n) => callAgent<{ changed: { backend: string; active: number }[] }>(n, 'POST', '/drain', { server, drain: on })));
    let failed = 0;
    replies.forEach((r, i) => {
      const n = lbs[i]!;
      if (r.ok) console.log(`${n.name}: ${server} ${on ? 'draining' : 'in service'} (${r.body!.changed.map((c) => `${c.backend}: ${c.active} in flight`).join(', ')})`);
      else {
        failed++;
        console.error(`${n.name}: ${r.error ?? `HTTP ${r.status}`}`);
      }
    });
    if (on && parsed.values['wait']) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const st = await Promise.all(lbs.map((n) => callAgent<{ lb?: { backends: { servers: { name: string; active: number }[] }[] } }>(n, 'GET', '/status')));
        const inflight = st.reduce((sum, r) => sum + (r.body?.lb?.backends.flatMap((b) => b.servers).filter((s) => s.name === server).reduce((a, s) => a + s.active, 0) ?? 0), 0);
        if (inflight === 0) {
          console.log(`${server} drained: no request in flight`);
          break;
        }
        if (Date.now() > deadline) {
          console.error(`${server} still has ${inflight} request(s) in flight after 60s`);
          return 1;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return failed === lbs.length ? 1 : 0;
  },
};
