import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { NodeAgent } from '../../node/node.js';
import { systemClock } from '../../core/clock.js';
import { createLogger, type Logger } from '../../core/log.js';
import { humanLogger } from '../log-format.js';
import { findNode } from '../../config/index.js';
import { BulwarkError } from '../../core/errors.js';

export const agent: Verb = {
  name: 'agent',
  summary: 'Run one node of the cluster in the foreground (one per machine, usually under systemd).',
  options: { config: CONFIG_OPTION, node: { type: 'string', description: 'the node to run (required)', valueName: 'NAME' } },
  details: 'Signals: SIGTERM/SIGINT stop gracefully; SIGHUP re-reads the cluster file and applies it.',
  async run(parsed) {
    const spec = loadSpec(parsed);
    const name = parsed.values['node'];
    if (typeof name !== 'string') {
      throw new BulwarkError('BWK_USAGE', 'bulwark agent: --node NAME is required');
    }
    const node = findNode(spec, name);
    const json = process.env['BULWARK_LOG_FORMAT'] === 'json' || !process.stdout.isTTY;
    const log: Logger = json ? createLogger({ node: node.name, level: spec.log.level }) : humanLogger(node.name, spec.log.level === 'debug' ? 'debug' : 'info');
    const agentNode = await NodeAgent.create(spec, node.name, systemClock, log);
    try {
      await agentNode.start();
    } catch (err) {
      await agentNode.stop().catch(() => {});
      throw err;
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, `received ${signal}, stopping`);
        void agentNode.stop().finally(() => resolve());
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => void agentNode.reload().catch(() => {}));
      // Started by `bulwark up`: if that process is gone (killed outright), nobody would reap
      // or stop this node any more, so it stops itself rather than linger as an orphan.
      const upPid = Number(process.env['BULWARK_UP_PID'] ?? 0);
      if (upPid > 0) {
        const orphanCheck = setInterval(() => {
          if (process.ppid !== upPid) {
            clearInterval(orphanCheck);
            log.warn({ upPid }, `bulwark up (pid ${upPid}) is gone: stopping`);
            stop('orphaned');
          }
        }, 1000);
        orphanCheck.unref();
      }
    });
    log.flush();
    return 0;
  },
};
