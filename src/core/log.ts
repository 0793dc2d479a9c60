/**
 * Structured logs: one JSON line per event (pino). Every line carries the node name; the human
 * one-liners in the terminal are rendered from these lines by the CLI (see cli/log-format.ts).
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface LoggerOptions {
  readonly node?: string;
  readonly level?: LogLevel;
  /** Defaults to stdout. */
  readonly destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = opts.node ? { node: opts.node } : {};
  return pino(
    {
      level: opts.level ?? 'info',
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that discards everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
