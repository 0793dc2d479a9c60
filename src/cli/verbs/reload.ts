import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { callAgent } from '../agent-client.js';

export const reload: Verb = {
  name: 'reload',
  summary: 'Validate the cluster file, then have every node apply it without dropping requests.',
  options: { config: CONFIG_OPTION },
  details: 'Each node re-reads the file it was started with; a node that cannot apply it keeps its running configuration and says why.',
  async run(parsed) {
    const spec = loadSpec(parsed); // refuses an invalid file before any node sees it
    const replies = await Promise.all(spec.nodes.map((n) => callAgent<{ result: string }>(n, 'POST', '/reload', undefined, 15_000)));
    let failed = 0;
    replies.forEach((r, i) => {
      const n = spec.nodes[i]!;
      if (r.ok) console.log(`${n.name}: ${r.body!.result}`);
      else {
        failed++;
        console.error(`${n.name}: reload failed: ${r.error ?? `HTTP ${r.status}`}`);
      }
    });
    return failed > 0 ? 1 : 0;
  },
};
