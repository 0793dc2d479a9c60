import fs from 'node:fs';
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { BulwarkError } from '../../core/errors.js';
import { layoutOf } from '../../node/local-cluster/layout.js';
import { controlRequest } from '../../node/local-cluster/local-cluster.js';
import { isAlive, readPidFile, signalGroup } from '../../node/local-cluster/processes.js';

export const down: Verb = {
  name: 'down',
  summary: 'Stop the local cluster that `bulwark up --detach` started (every node, gracefully).',
  options: { config: CONFIG_OPTION },
  async run(parsed) {
    const spec = loadSpec(parsed);
    const layout = layoutOf(spec);
    try {
      await controlRequest(layout, 'POST', '/down');
    } catch (err) {
      if (!(err instanceof BulwarkError) || err.code !== 'BWK_NOT_RUNNING') throw err;
      // No `up` process: stop any node it left behind (recorded pid and start time must match).
      let found = 0;
      for (const n of spec.nodes) {
        const rec = readPidFile(layout.nodePid(n.name));
        if (rec && isAlive(rec.pid, rec.startTicks)) {
          signalGroup(rec.pid, 'SIGTERM');
          found++;
        }
        fs.rmSync(layout.nodePid(n.name), { force: true });
      }
      if (found === 0) throw err;
      console.log(`no \`bulwark up\` process; sent SIGTERM to ${found} leftover node(s)`);
      return 0;
    }
    const deadline = Date.now() + 30_000;
    const up = readPidFile(layout.upPid);
    while (fs.existsSync(layout.controlSocket) && Date.now() < deadline && (!up || isAlive(up.pid, up.startTicks))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`cluster "${spec.cluster}" stopped`);
    return 0;
  },
};
