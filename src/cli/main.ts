/** The `bulwark` command: verb dispatch, help and exit codes (0 ok, 1 failure, 2 bad usage). */
import { closeAdminAgents } from './agent-client.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { parseVerbArgs, verbHelp, type Verb } from './verb.js';
import { up } from './verbs/up.js';
import { down } from './verbs/down.js';
import { agent } from './verbs/agent.js';
import { status } from './verbs/status.js';
import { validate } from './verbs/validate.js';
import { plan } from './verbs/plan.js';
import { kill, start } from './verbs/kill-start.js';
import { drain } from './verbs/drain.js';
import { reload } from './verbs/reload.js';
import { switchover } from './verbs/switchover.js';
import { certs } from './verbs/certs.js';
import { firewall } from './verbs/firewall.js';
import { monitor } from './verbs/monitor.js';
import { deploy } from './verbs/deploy.js';
import { drill } from './verbs/drill.js';

export const VERBS: readonly Verb[] = [up, down, status, agent, validate, plan, kill, start, drain, reload, switchover, certs, firewall, deploy, drill, monitor];

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length)) + 2;
  return [
    'Usage: bulwark <command> [options]',
    '',
    'Self-hosted high-availability web infrastructure from one cluster file.',
    '',
    'Commands:',
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}${v.summary}`),
    '',
    'Every command takes -c FILE (default: bulwark.yaml, else examples/local.yaml) and --help.',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    console.error(usage());
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(usage());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    const { createRequire } = await import('node:module');
    console.log((createRequire(import.meta.url)('../../../package.json') as { version: string }).version);
    return 0;
  }
  const verb = VERBS.find((v) => v.name === first);
  try {
    if (!verb) throw new BulwarkError('BWK_USAGE', `unknown command ${JSON.stringify(first)}`);
    const parsed = parseVerbArgs(verb, rest);
    if (parsed === 'help') {
      console.log(verbHelp(verb));
      return 0;
    }
    return await verb.run(parsed);
  } catch (err) {
    if (isBulwarkError(err) && err.code === 'BWK_USAGE') {
      console.error(`bulwark: ${err.message.replace(/^bulwark \w+: /, '')}\n`);
      console.error(verb ? verbHelp(verb) : usage());
      return 2;
    }
    if (isBulwarkError(err)) {
      console.error(`bulwark: ${err.describe()}`);
      return 1;
    }
    // Coded errors from other capabilities (e.g. PostgreSQL control): message, code, details.
    const e = err as { message?: string; code?: unknown; details?: unknown };
    if (typeof e.code === 'string' && typeof e.message === 'string') {
      const details = Array.isArray(e.details) ? e.details.map((d) => `  ${String(d)}`) : [];
      console.error([`bulwark: ${e.message} [${e.code}]`, ...details].join('\n'));
      if (process.env['BULWARK_DEBUG']) console.error(err);
      return 1;
    }
    console.error(err);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
await closeAdminAgents();
process.exitCode = code;
