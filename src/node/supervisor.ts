/**
 * ChildSupervisor: runs one child process (the app on a `web` node, PostgreSQL on a `db` node)
 * and keeps it running.
 *
 *   stopped ──start()──▶ starting ──'spawn'──▶ running ──exit──▶ backoff ──timer──▶ starting …
 *      ▲                    │ spawn error (ENOENT…) ───────────────▲   │
 *      └──────── stop() (SIGTERM, SIGKILL after stopTimeoutMs) ◀────────┘
 *                                       too many restarts in a row ──▶ failed
 *
 * Backoff: the first restart waits `backoff.initialMs`, each further one twice as long, capped
 * at `backoff.maxMs`; a run that lasted `stableAfterMs` resets it. All waiting (backoff and the
 * SIGKILL grace) goes through the injected Clock, so tests drive it with a ManualClock.
 *
 * The child's stdout/stderr are split into lines; each line goes to the given stream, or else to
 * the logger as `{ msg: line, stream, child: name }`.
 */
import { EventEmitter } from 'node:events';
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { formatDuration } from '../core/units.js';

export type SupervisorState = 'starting' | 'running' | 'backoff' | 'stopped' | 'failed';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** Clock time of the exit. */
  readonly at: number;
}

export interface SupervisorStatus {
  readonly state: SupervisorState;
  /** The child's pid while it is starting or running. */
  readonly pid?: number;
  /** Automatic restarts performed so far (manual start/restart calls do not count). */
  readonly restarts: number;
  /** The last time a child exited (spawn failures do not count: see lastError). */
  readonly lastExit?: ChildExit;
  /** The last spawn failure, e.g. `spawn nodex ENOENT`. */
  readonly lastError?: string;
  /** Clock time of the last state change. */
  readonly since: number;
  /** In `backoff`: when the next restart happens. */
  readonly nextRestartAt?: number;
}

export interface ChildSupervisorOptions {
  /** Used in logs (`app exited with code 1; …`). */
  readonly name: string;
  /** argv: command[0] is looked up on the PATH of `env`. */
  readonly command: readonly string[];
  readonly cwd: string;
  /** The child's complete environment: nothing is inherited, merge process.env yourself. */
  readonly env: Readonly<Record<string, string>>;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** A run at least this long resets the backoff (default 10 s). */
  readonly stableAfterMs?: number;
  /** Grace between SIGTERM and SIGKILL in stop(). */
  readonly stopTimeoutMs: number;
  /** Give up (state `failed`) after this many restarts without a stable run (default: never). */
  readonly maxRestarts?: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the child's stdout lines go (default: the logger, at info). */
  readonly stdout?: NodeJS.WritableStream;
  /** Where the child's stderr lines go (default: the logger, at warn). */
  readonly stderr?: NodeJS.WritableStream;
  /** For tests. */
  readonly spawnImpl?: typeof nodeSpawn;
}

export interface SupervisorEvents {
  state: [SupervisorStatus];
}

/** Longer lines are cut into pieces of this many characters. */
const MAX_LINE = 64 * 1024;
const DEFAULT_STABLE_AFTER_MS = 10_000;

interface Run {
  readonly child: ChildProcess;
  readonly startedAt: number;
  spawned: boolean;
  ended: boolean;
  stopRequested: boolean;
  killTimer?: TimerHandle;
  readonly exited: Promise<void>;
  resolveExited(): void;
}

type RunEnd = { readonly code: number | null; readonly signal: NodeJS.Signals | null } | { readonly error: Error };

export class ChildSupervisor extends EventEmitter<SupervisorEvents> {
  private readonly opts: ChildSupervisorOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly spawnImpl: typeof nodeSpawn;
  private readonly stableAfterMs: number;

  /** What the caller last asked for: start() → running, stop() → stopped. */
  private desired: 'running' | 'stopped' = 'stopped';
  private state: SupervisorState = 'stopped';
  private since: number;
  private restarts = 0;
  private lastExit: ChildExit | undefined;
  private lastError: string | undefined;
  private nextRestartAt: number | undefined;

  private run: Run | undefined;
  private restartTimer: TimerHandle | undefined;
  private backoffMs: number;
  /** Restarts since the last stable run (for maxRestarts). */
  private unstableRestarts = 0;
  private stopping: Promise<void> | undefined;

  constructor(opts: ChildSupervisorOptions) {
    super();
    if (opts.command.length === 0 || !opts.command[0]) throw new RangeError(`${opts.name}: the command is empty`);
    if (!(opts.backoff.initialMs > 0) || !(opts.backoff.maxMs >= opts.backoff.initialMs)) {
      throw new RangeError(`${opts.name}: backoff needs 0 < initialMs <= maxMs`);
    }
    if (!(opts.stopTimeoutMs >= 0)) throw new RangeError(`${opts.name}: stopTimeoutMs must be >= 0`);
    this.opts = opts;
    this.clock = opts.clock;
    this.log = opts.logger;
    this.spawnImpl = opts.spawnImpl ?? nodeSpawn;
    this.stableAfterMs = opts.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    this.backoffMs = opts.backoff.initialMs;
    this.since = this.clock.now();
  }

  status(): SupervisorStatus {
    const pid = this.run && !this.run.ended ? this.run.child.pid : undefined;
    return {
      state: this.state,
      ...(pid !== undefined ? { pid } : {}),
      restarts: this.restarts,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      since: this.since,
      ...(this.nextRestartAt !== undefined ? { nextRestartAt: this.nextRestartAt } : {}),
    };
  }

  /**
   * Start the child (no-op when it is already starting, running or waiting to restart). During a
   * stop() the child is started again once the old one has exited.
   */
  start(): void {
    this.desired = 'running';
    if (this.stopping) return;
    if (this.state !== 'stopped' && this.state !== 'failed') return;
    this.backoffMs = this.opts.backoff.initialMs;
    this.unstableRestarts = 0;
    this.spawnChild();
  }

  /**
   * Stop the child: SIGTERM, then SIGKILL after stopTimeoutMs. Resolves once it has exited (and
   * been reaped); cancels a pending restart. Idempotent: concurrent calls share one promise.
   */
  stop(): Promise<void> {
    this.desired = 'stopped';
    if (this.stopping) return this.stopping;
    this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = undefined;
    const run = this.run;
    if (!run || run.ended) {
      if (this.state !== 'stopped') {
        this.log.info({ child: this.opts.name }, `${this.opts.name} stopped`);
        this.setState('stopped');
      }
      return Promise.resolve();
    }
    run.stopRequested = true;
    const pid = run.child.pid;
    this.log.info({ child: this.opts.name, pid }, `stopping ${this.opts.name}${pid ? ` (pid ${pid})` : ''}: SIGTERM`);
    // A child without a pid has not been created (yet): its spawn error ends the run by itself.
    if (pid !== undefined) this.signal(run, 'SIGTERM');
    run.killTimer = this.clock.setTimeout(() => {
      if (run.ended) return;
      this.log.warn(
        { child: this.opts.name, pid },
        `${this.opts.name} did not exit within ${formatDuration(this.opts.stopTimeoutMs)} of SIGTERM: SIGKILL`,
      );
      if (run.child.pid !== undefined) this.signal(run, 'SIGKILL');
    }, this.opts.stopTimeoutMs);
    const stopping = run.exited.then(() => {
      this.stopping = undefined;
      if (this.desired === 'running') this.start();
    });
    this.stopping = stopping;
    return stopping;
  }

  /** stop() then start(); the backoff starts over. */
  async restart(): Promise<void> {
    await this.stop();
    this.start();
  }

  // ------------------------------------------------------------------------------------------

  private spawnChild(): void {
    const [file, ...args] = this.opts.command as [string, ...string[]];
    this.nextRestartAt = undefined;
    let child: ChildProcess;
    try {
      child = this.spawnImpl(file, args, {
        cwd: this.opts.cwd,
        env: { ...this.opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      // Synchronous spawn failures (bad arguments, EMFILE…) are treated like a failed start.
      this.afterEnd(this.clock.now(), { error: asError(err) }, false);
      return;
    }
    let resolveExited!: () => void;
    const exited = new Promise<void>((resolve) => (resolveExited = resolve));
    const run: Run = {
      child,
      startedAt: this.clock.now(),
      spawned: false,
      ended: false,
      stopRequested: false,
      exited,
      resolveExited,
    };
    this.run = run;

    if (child.stdout) this.pipeLines(child.stdout, 'stdout');
    if (child.stderr) this.pipeLines(child.stderr, 'stderr');
    child.once('spawn', () => {
      if (run.ended) return;
      run.spawned = true;
      const again = this.restarts > 0 ? `, restart #${this.restarts}` : '';
      this.log.info(
        { child: this.opts.name, pid: child.pid },
        `${this.opts.name} started (pid ${child.pid}${again}): ${this.opts.command.join(' ')}`,
      );
      if (this.run === run && this.state === 'starting') this.setState('running');
    });
    child.on('error', (err) => {
      if (!run.spawned) this.onRunEnd(run, { error: err });
      else this.log.warn({ child: this.opts.name, pid: child.pid, err }, `${this.opts.name}: ${err.message}`);
    });
    child.once('exit', (code, signal) => this.onRunEnd(run, { code, signal }));
    this.setState('starting');
  }

  private onRunEnd(run: Run, end: RunEnd): void {
    if (run.ended) return;
    run.ended = true;
    this.clock.clearTimeout(run.killTimer);
    if (this.run === run) this.run = undefined;
    const now = this.clock.now();
    const stable = now - run.startedAt >= this.stableAfterMs;
    this.afterEnd(now, end, stable, run.stopRequested);
    run.resolveExited();
  }

  /** Bookkeeping after a run ended (or failed to start): stopped, backoff or failed. */
  private afterEnd(now: number, end: RunEnd, stable: boolean, stopRequested = false): void {
    const name = this.opts.name;
    let reason: string;
    if ('error' in end) {
      this.lastError = end.error.message;
      reason = `could not be started: ${describeSpawnError(end.error, this.opts.command[0]!, this.opts.cwd)}`;
    } else {
      this.lastExit = { code: end.code, signal: end.signal, at: now };
      reason = end.signal !== null ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
    }

    if (stopRequested || this.desired === 'stopped') {
      this.log.info({ child: name, code: this.lastExit?.code, signal: this.lastExit?.signal }, `${name} stopped: ${reason}`);
      this.setState('stopped');
      return;
    }

    if (stable) {
      this.backoffMs = this.opts.backoff.initialMs;
      this.unstableRestarts = 0;
    }
    const fields = { child: name, code: this.lastExit?.code, signal: this.lastExit?.signal };
    const maxRestarts = this.opts.maxRestarts ?? Infinity;
    if (this.unstableRestarts >= maxRestarts) {
      this.log.error(fields, `${name} ${reason}; giving up after ${this.unstableRestarts} restarts without a stable run`);
      this.setState('failed');
      return;
    }
    this.unstableRestarts++;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoff.maxMs);
    this.nextRestartAt = now + delay;
    this.log.warn(fields, `${name} ${reason}; restarting in ${formatDuration(delay)} (restart #${this.restarts + 1})`);
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.spawnChild();
    }, delay);
    this.setState('backoff');
  }

  private signal(run: Run, sig: NodeJS.Signals): void {
    try {
      run.child.kill(sig);
    } catch (err) {
      this.log.warn({ child: this.opts.name, err }, `${this.opts.name}: could not send ${sig}: ${asError(err).message}`);
    }
  }

  private setState(state: SupervisorState): void {
    this.state = state;
    this.since = this.clock.now();
    this.emit('state', this.status());
  }

  private pipeLines(stream: NodeJS.ReadableStream, which: 'stdout' | 'stderr'): void {
    const target = which === 'stdout' ? this.opts.stdout : this.opts.stderr;
    const decoder = new StringDecoder('utf8');
    let pending = '';
    const emitLine = (raw: string): void => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (target) {
        target.write(`${line}\n`);
      } else if (line.length > 0) {
        const fields = { stream: which, child: this.opts.name };
        if (which === 'stderr') this.log.warn(fields, line);
        else this.log.info(fields, line);
      }
    };
    stream.on('data', (chunk: Buffer | string) => {
      pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        emitLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      while (pending.length > MAX_LINE) {
        emitLine(pending.slice(0, MAX_LINE));
        pending = pending.slice(MAX_LINE);
      }
    });
    stream.on('end', () => {
      pending += decoder.end();
      if (pending.length > 0) emitLine(pending);
      pending = '';
    });
    stream.on('error', () => {
      // The pipe breaks when the child dies; its exit is reported elsewhere.
    });
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function describeSpawnError(err: Error, file: string, cwd: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${err.message} (is "${file}" installed and on the PATH, and does ${cwd} exist?)`;
  if (code === 'EACCES') return `${err.message} ("${file}" is not executable)`;
  return err.message;
}
