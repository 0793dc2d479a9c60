/** The shape of a CLI verb and its argument parsing (node:util parseArgs, strict). */
import { parseArgs } from 'node:util';
import { BulwarkError } from '../core/errors.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly description: string;
  readonly valueName?: string;
}

export interface Verb {
  readonly name: string;
  readonly summary: string;
  /** e.g. "NODE" or "[SERVER]". */
  readonly args?: string;
  readonly minArgs?: number;
  readonly maxArgs?: number;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Extra help text after the options. */
  readonly details?: string;
  run(parsed: Parsed): Promise<number>;
}

export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

export const CONFIG_OPTION: OptionSpec = { type: 'string', short: 'c', description: 'cluster file (default: bulwark.yaml, else examples/local.yaml)', valueName: 'FILE' };
export const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'print machine-readable JSON' };

export function parseVerbArgs(verb: Verb, argv: readonly string[]): Parsed | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(verb.options)) options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new BulwarkError('BWK_USAGE', `bulwark ${verb.name}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
  }
  if (parsed.values.help) return 'help';
  const n = parsed.positionals.length;
  if (n < (verb.minArgs ?? 0)) throw new BulwarkError('BWK_USAGE', `bulwark ${verb.name}: missing ${verb.args ?? 'argument'}`);
  if (n > (verb.maxArgs ?? 0)) throw new BulwarkError('BWK_USAGE', `bulwark ${verb.name}: unexpected argument ${JSON.stringify(parsed.positionals[verb.maxArgs ?? 0])}`);
  return { values: parsed.values as Parsed['values'], positionals: parsed.positionals };
}

export function verbHelp(verb: Verb): string {
  const lines = [`Usage: bulwark ${verb.name}${verb.args ? ' ' + verb.args : ''} [options]`, '', verb.summary, '', 'Options:'];
  const entries = Object.entries(verb.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return [flag, o.description] as const;
  });
  entries.push(['-h, --help', 'show this help']);
  const width = Math.max(...entries.map(([f]) => f.length)) + 2;
  for (const [f, d] of entries) lines.push(`  ${f.padEnd(width)}${d}`);
  if (verb.details) lines.push('', verb.details);
  return lines.join('\n');
}
