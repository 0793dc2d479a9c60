import { CONFIG_OPTION, JSON_OPTION, type Verb } from '../verb.js';
import { configPathOf, loadSpec, printJson } from '../context.js';
import { ROLES } from '../../config/types.js';

export const validate: Verb = {
  name: 'validate',
  summary: 'Check the cluster file: schema, units, references, cross-checks, and the edge.tls files on this machine. Exit 0 when valid.',
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  async run(parsed) {
    // The certificate files too: run it on an lb host (other hosts do not need them).
    const spec = loadSpec(parsed, { files: true });
    const counts = ROLES.map((r) => [r, spec.nodes.filter((n) => n.role === r).length] as const).filter(([, n]) => n > 0);
    if (parsed.values['json']) {
      printJson({ valid: true, file: spec.sourcePath, cluster: spec.cluster, nodes: spec.nodes.length, frontends: spec.edge?.frontends.length ?? 0, backends: spec.edge?.backends.length ?? 0 });
    } else {
      console.log(`${configPathOf(parsed)} is valid: cluster "${spec.cluster}", ${spec.nodes.length} nodes (${counts.map(([r, n]) => `${n} ${r}`).join(', ')}), ` +
        `${spec.edge?.frontends.length ?? 0} frontend(s), ${spec.edge?.backends.length ?? 0} backend(s)`);
    }
    return 0;
  },
};
