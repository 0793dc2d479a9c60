import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { findNode } from '../../config/index.js';
import { BulwarkError } from '../../core/errors.js';
import { layoutOf } from '../../node/local-cluster/layout.js';
import { controlRequest } from '../../node/local-cluster/local-cluster.js';

function nodeVerb(name: 'kill' | 'start', summary: string): Verb {
  return {
    name, summary, args: 'NODE', minArgs: 1, maxArgs: 1,
    options: { config: CONFIG_OPTION },
    async run(parsed) {
      const spec = loadSpec(parsed);
      const node = findNode(spec, parsed.positionals[0]!);
      const r = await controlRequest(layoutOf(spec), 'POST', `/${name}?node=${encodeURIComponent(node.name)}`);
      const body = r.body as { error?: string; code?: string; pid?: number };
      if (r.status !== 200) throw new BulwarkError(body.code === 'BWK_ALREADY_RUNNING' ? 'BWK_ALREADY_RUNNING' : 'BWK_NOT_RUNNING', body.error ?? `HTTP ${r.status}`);
      console.log(name === 'kill' ? `killed ${node.name} (SIGKILL to the node and its children)` : `started ${node.name} (pid ${body.pid})`);
      return 0;
    },
  };
}

export const kill = nodeVerb('kill', 'SIGKILL a node of the local cluster and everything it runs (for failure drills).');
export const start = nodeVerb('start', 'Start a node of the local cluster again (after `bulwark kill`).');
