import fs from 'node:fs';
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { callAgent } from '../agent-client.js';
import { primaryRemovedRefusal } from '../reload-checks.js';
import { layoutOf } from '../../node/local-cluster/layout.js';
import { controlRequest } from '../../node/local-cluster/local-cluster.js';

export const reload: Verb = {
  name: 'reload',
  summary: 'Validate the cluster file, then have every node apply it without dropping requests.',
  options: { config: CONFIG_OPTION },
  details: [
    'Each node re-reads the file it was started with; a node that cannot apply it keeps its running configuration and says why.',
    'On a local cluster (bulwark up), nodes added to the file are started and removed ones stopped, after the others applied it.',
    'On many machines, start a new node\'s agent on its host (before or after); a node that does not answer is reported and the exit code is 1.',
    'A file that no longer names the current primary is refused before any node sees it: switch over first.',
  ].join('\n'),
  async run(parsed) {
    const spec = loadSpec(parsed); // refuses an invalid file before any node sees it
    const refusal = await primaryRemovedRefusal(spec);
    if (refusal) {
      console.error(refusal);
      return 1;
    }
    const layout = layoutOf(spec);
    const local = fs.existsSync(layout.controlSocket)
      ? await controlRequest(layout, 'GET', '/nodes').then((r) => r.body as { name: string }[], () => undefined)
      : undefined;
    // New nodes of a local cluster are started below, once the others know about them.
    const known = local ? new Set(local.map((n) => n.name)) : undefined;
    const asked = spec.nodes.filter((n) => !known || known.has(n.name));
    const replies = await Promise.all(asked.map((n) => callAgent<{ result: string }>(spec, n, 'POST', '/reload', undefined, 15_000)));
    let failed = 0;
    replies.forEach((r, i) => {
      const n = asked[i]!;
      if (r.ok) console.log(`${n.name}: ${r.body!.result}`);
      else if (r.status === 0 && !known) {
        failed++;
        console.error(`${n.name}: not running (${r.error}); a new node reads the file when its agent starts`);
      } else {
        failed++;
        console.error(`${n.name}: reload failed: ${r.error ?? `HTTP ${r.status}`}`);
      }
    });
    if (local && failed === 0) {
      const r = await controlRequest(layout, 'POST', '/sync', 60_000);
      const body = r.body as { started?: string[]; stopped?: string[]; error?: string };
      if (r.status !== 200) {
        console.error(`local cluster: ${body.error ?? `HTTP ${r.status}`}`);
        return 1;
      }
      for (const n of body.started ?? []) console.log(`${n}: new in the file: started`);
      for (const n of body.stopped ?? []) console.log(`${n}: no longer in the file: stopped`);
    }
    return failed > 0 ? 1 : 0;
  },
};
