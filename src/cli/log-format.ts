/** Human one-liners for the terminal, rendered from the JSON log lines every node writes. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../core/log.js';

const LEVEL_TAG: Record<string, string> = { debug: 'debug', info: '', warn: 'WARN ', error: 'ERROR ', fatal: 'FATAL ' };
const COLOR: Record<string, string> = { warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[31m' };

export function formatLogLine(line: string, color = false, fallbackNode = ''): string | undefined {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trim() ? `${fallbackNode ? fallbackNode.padEnd(6) + ' ' : ''}${line.trim()}` : undefined;
  }
  const level = String(rec['level'] ?? 'info');
  if (level === 'debug' || level === 'trace') return undefined;
  const time = typeof rec['time'] === 'string' ? rec['time'].slice(11, 19) : new Date().toISOString().slice(11, 19);
  const node = String(rec['node'] ?? fallbackNode);
  const child = rec['child'] ? `[${String(rec['child'])}] ` : '';
  let msg = String(rec['msg'] ?? '');
  if (rec['child'] && msg.startsWith('{')) {
    // A supervised app that logs JSON itself: show its message, not its JSON.
    try {
      const inner = JSON.parse(msg) as Record<string, unknown>;
      if (typeof inner['msg'] === 'string') msg = inner['msg'] + (inner['url'] ? ` ${String(inner['url'])}` : '');
    } catch {
      /* not JSON after all */
    }
  }
  const text = `${time} ${node.padEnd(6)} ${LEVEL_TAG[level] ?? ''}${child}${msg}`;
  return color && COLOR[level] ? `${COLOR[level]}${text}\x1b[0m` : text;
}

/** A pino logger that prints human one-liners to stdout (for foreground commands). */
export function humanLogger(node: string, level: 'debug' | 'info' = 'info'): Logger {
  const color = Boolean(process.stdout.isTTY);
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        const out = formatLogLine(line, color);
        if (out) process.stdout.write(out + '\n');
      }
      cb();
    },
  });
  return pino({ level, base: { node }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } }, stream);
}
