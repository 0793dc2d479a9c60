/**
 * PostgresInstance: one data directory and the postmaster that serves it, run as a CHILD of the
 * agent (never daemonised through pg_ctl), so the agent sees its exit at once and reaps it.
 *
 *   stopped ──start()──▶ starting ──postmaster.pid says ready/standby + SELECT 1──▶ running
 *      ▲                    │ exits early → PG_START_FAILED (with the log tail)        │
 *      └──── exit ◀── stop('smart'|'fast'|'immediate') = SIGTERM|SIGINT|SIGQUIT ◀────┘
 *                    kill() = SIGKILL to the whole process group (postmaster + backends)
 *
 * The postmaster is spawned in its own process group (detached) so that a terminal Ctrl-C
 * reaches the agent only (the agent chooses the shutdown mode) and kill() can take the
 * backends down with it. A postmaster left over by a previous agent is an "orphan": start()
 * refuses with PG_ALREADY_RUNNING and stopOrphan() ends it; a postmaster.pid whose process is
 * gone (or is not a postmaster in this directory) is stale and removed before starting.
 *
 * SQL goes over the member's own unix socket as the superuser (peer authentication through the
 * `bulwark` ident map), on one lazily opened admin connection that is dropped and reopened after
 * a connection-level failure (sql-connection.ts). All waiting goes through the injected Clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sleep, type Clock } from '../../../core/clock.js';
import type { Logger } from '../../../core/log.js';
import { binaryEnv, binPath, type PostgresBinaries } from './binaries.js';
import {
  AUTO_CONF,
  BULWARK_CONF,
  ensureInclude,
  memberSettings,
  readAutoConf,
  readPostmasterPid,
  renderAutoConf,
  renderConf,
  renderHba,
  renderIdent,
  type HbaRule,
  type Settings,
} from './conf.js';
import { PgControlError } from './errors.js';
import { cloneMarker, isCloneIncomplete, isEmptyDir, tailFile, writeOwnedFile } from './files.js';
import { agentUserName, giveTo, prepareDir, type ServiceUser } from './os-user.js';
import { serverTlsSettings, writeMemberTls, type MemberTls, type TlsFiles } from './tls.js';
import { SqlConnection } from './sql-connection.js';

/** util-linux's setpriv (Debian: always present). */
const SETPRIV = '/usr/bin/setpriv';

export type {
  ExitInfo, InitdbOptions, InstanceEvents, PostgresInstanceOptions, PromoteResult, QueryOptions, RunState, StopMode, StopOptions, StopResult,
} from './instance-types.js';
import type {
  ExitInfo, InitdbOptions, InstanceEvents, PostgresInstanceOptions, PromoteResult, QueryOptions, RunState, StopMode, StopOptions, StopResult,
} from './instance-types.js';

const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

const CONNECT_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

/** Is `pid` a live postmaster serving `dataDir`? (its cwd is the data dir: postgres chdirs there) */
export function isPostmasterFor(pid: number, dataDir: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    return path.resolve(cwd) === fs.realpathSync(dataDir);
  } catch {
    // No /proc access: fall back to the command line.
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('postgres');
    } catch {
      return false;
    }
  }
}

export class PostgresInstance extends EventEmitter<InstanceEvents> {
  readonly name: string;
  readonly binaries: PostgresBinaries;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string | undefined;
  readonly listenAddress: string;
  readonly port: number;
  readonly user: ServiceUser;
  readonly superuser: string;
  private readonly baseSettings: Settings;
  private hbaRules: readonly HbaRule[] | undefined;
  private tls: MemberTls | undefined;
  readonly clock: Clock;
  readonly log: Logger;

  private child: ChildProcess | undefined;
  private exitWaiters: Array<(e: ExitInfo) => void> = [];
  private stopRequested = false;
  private lastExitInfo: ExitInfo | undefined;
  private readonly sql: SqlConnection;
  private logOffsetAtStart = 0;

  constructor(opts: PostgresInstanceOptions) {
    super();
    this.name = opts.name;
    this.binaries = opts.binaries;
    this.dataDir = path.resolve(opts.dataDir);
    this.socketDir = path.resolve(opts.socketDir);
    this.logFile = opts.logFile ? path.resolve(opts.logFile) : undefined;
    this.listenAddress = opts.listenAddress;
    this.port = opts.port;
    this.user = opts.user;
    this.superuser = opts.superuser ?? 'postgres';
    this.baseSettings = opts.settings ?? {};
    this.hbaRules = opts.hba;
    this.tls = opts.tls;
    this.clock = opts.clock;
    this.log = opts.logger.child({ component: 'postgres', member: opts.name });
    this.sql = new SqlConnection((extra) => this.clientConfig(extra), this.clock, this.log);
  }

  // -------------------------------------------------------------------------------------------
  // Files

  /** A data directory exists here (PG_VERSION present). */
  isInitialized(): boolean {
    return fs.existsSync(path.join(this.dataDir, 'PG_VERSION'));
  }

  /** standby.signal present: the server starts as a replica. */
  isStandbyConfigured(): boolean {
    return fs.existsSync(path.join(this.dataDir, 'standby.signal'));
  }

  /** Environment for every PostgreSQL program we run: minimal, nothing from PG* leaks in. */
  childEnv(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LC_ALL: 'C',
      LANG: 'C',
      ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
      ...binaryEnv(this.binaries),
    };
  }

  /**
   * How the postmaster is started. Through `setpriv --pdeathsig KILL` where available: if the
   * agent dies (kill -9, OOM), the kernel kills its PostgreSQL too, so a primary can never keep
   * taking writes after the agent that holds its leader lock is gone (invariant 2). setpriv also
   * switches to the service user, after which the death signal is still set (it is applied last).
   */
  private postmasterLaunch(): { command: string; args: string[]; identity: { uid?: number; gid?: number } } {
    const postgres = binPath(this.binaries, 'postgres');
    if (!fs.existsSync(SETPRIV)) return { command: postgres, args: ['-D', this.dataDir], identity: this.spawnIdentity() };
    const user = this.user.switchUser ? ['--reuid', String(this.user.uid), '--regid', String(this.user.gid), '--clear-groups'] : [];
    return { command: SETPRIV, args: ['--pdeathsig', 'KILL', ...user, '--', postgres, '-D', this.dataDir], identity: {} };
  }

  /** Options for spawn() that run a program as the service user. */
  spawnIdentity(): { uid?: number; gid?: number } {
    return this.user.switchUser ? { uid: this.user.uid, gid: this.user.gid } : {};
  }

  /**
   * initdb into an empty (or missing) data directory: UTF8, locale C, data checksums, the
   * superuser named `superuser` (password from a file when given), then our config and hba.
   */
  async initdb(opts: InitdbOptions = {}): Promise<{ durationMs: number }> {
    const t0 = this.clock.now();
    if (!isEmptyDir(this.dataDir)) {
      throw new PgControlError('PG_NOT_EMPTY', `initdb: ${this.dataDir} is not empty`);
    }
    prepareDir(this.dataDir, this.user, 0o700);
    prepareDir(this.socketDir, this.user, 0o700);
    let pwTmp: string | undefined;
    const args = [
      '-D', this.dataDir,
      '-U', this.superuser,
      '-E', 'UTF8',
      '--locale=C',
      '--data-checksums',
      '--auth-local=peer',
      '--auth-host=scram-sha-256',
      '--no-instructions',
    ];
    if (opts.noSync) args.push('--no-sync');
    try {
      if (opts.superuserPasswordFile) {
        // initdb runs as the service user, which may not read the agent's secrets: hand it a copy
        // next to the data dir for the duration of the run.
        const pw = fs.readFileSync(opts.superuserPasswordFile, 'utf8').split('\n')[0] ?? '';
        pwTmp = path.join(path.dirname(this.dataDir), `.initdb-pw-${process.pid}`);
        writeOwnedFile(pwTmp, `${pw}\n`, this.user, 0o600);
        args.push(`--pwfile=${pwTmp}`);
      }
      const { code, output } = await this.runProgram('initdb', args, opts.timeoutMs ?? 120_000);
      if (code !== 0) {
        throw new PgControlError('PG_INITDB_FAILED', `initdb exited with code ${code} for ${this.dataDir}`, output.slice(-15));
      }
    } finally {
      if (pwTmp) fs.rmSync(pwTmp, { force: true });
    }
    this.writeConfig();
    if (this.hbaRules) this.writeHba();
    const durationMs = this.clock.now() - t0;
    this.log.info({ durationMs, dataDir: this.dataDir }, `initdb done in ${durationMs} ms`);
    return { durationMs };
  }

  /**
   * Write postgresql.bulwark.conf (member defaults + constructor settings + `extra`) and make
   * postgresql.conf include it. Takes effect on reload/restart (see reload()).
   */
  writeConfig(extra: Settings = {}): Record<string, string | number | boolean> {
    // TLS last: no extra setting (database.parameters) can turn it off under the hostssl rows.
    const tls = this.tls ? serverTlsSettings(this.tlsFiles()) : {};
    const settings = memberSettings(
      { name: this.name, listenAddress: this.listenAddress, port: this.port, socketDir: this.socketDir },
      { ...this.baseSettings, ...extra, ...tls },
    );
    writeOwnedFile(path.join(this.dataDir, BULWARK_CONF), renderConf(settings, `Member ${this.name}`), this.user, 0o600);
    if (ensureInclude(this.dataDir)) giveTo(path.join(this.dataDir, 'postgresql.conf'), this.user);
    return settings;
  }

  /**
   * The TLS files the server and this member's outgoing connections use, written on first use.
   * Replication, clone and rewind only ever connect with verified TLS: without them they cannot.
   */
  tlsFiles(): TlsFiles {
    if (!this.tls) {
      throw new PgControlError('PG_TLS_MISSING', `${this.name} has no TLS credentials: replication, clone and rewind connect only with verified TLS`);
    }
    this.tlsWritten ??= writeMemberTls(this.tls, this.user);
    return this.tlsWritten;
  }
  private tlsWritten: TlsFiles | undefined;

  /** Write pg_hba.conf (and pg_ident.conf mapping the agent's and service user's OS names). */
  writeHba(rules: readonly HbaRule[] | undefined = this.hbaRules): void {
    if (!rules) throw new Error('writeHba: no rules given and none configured');
    writeOwnedFile(path.join(this.dataDir, 'pg_hba.conf'), renderHba(rules), this.user, 0o600);
    writeOwnedFile(
      path.join(this.dataDir, 'pg_ident.conf'),
      renderIdent(this.superuser, [agentUserName(), this.user.name]),
      this.user,
      0o600,
    );
  }

  /**
   * Replace postgresql.auto.conf (server stopped) with only `keep` of its current keys plus
   * `set`. Used after a clone/rewind: the copied file describes the source.
   */
  rewriteAutoConf(set: Readonly<Record<string, string>>, keep: readonly string[] = []): void {
    if (this.child) throw new PgControlError('PG_UNSUPPORTED', 'rewriteAutoConf needs the server stopped: use ALTER SYSTEM');
    const current = readAutoConf(this.dataDir);
    const next = new Map<string, string>();
    for (const k of keep) {
      const v = current.get(k);
      if (v !== undefined) next.set(k, v);
    }
    for (const [k, v] of Object.entries(set)) next.set(k, v);
    writeOwnedFile(path.join(this.dataDir, AUTO_CONF), renderAutoConf(next), this.user, 0o600);
  }

  // -------------------------------------------------------------------------------------------
  // Process

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isRunning(): boolean {
    return this.child !== undefined;
  }

  get lastExit(): ExitInfo | undefined {
    return this.lastExitInfo;
  }

  /** Our child, an orphan postmaster on this data dir, or nothing. */
  detect(): RunState {
    if (this.child?.pid) return { state: 'running', pid: this.child.pid };
    const pidFile = readPostmasterPid(this.dataDir);
    if (pidFile && isPostmasterFor(pidFile.pid, this.dataDir)) return { state: 'orphan', pid: pidFile.pid };
    return { state: 'stopped' };
  }

  /** The last lines the server wrote since the last start (from the log file). */
  logTail(n = 20): string[] {
    return this.logFile ? tailFile(this.logFile, n, this.logOffsetAtStart) : [];
  }

  /**
   * Start the postmaster as a child and resolve once it accepts connections (postmaster.pid
   * status `ready` or `standby` and a `SELECT 1` over the socket succeeds).
   */
  async start(opts: { timeoutMs?: number } = {}): Promise<{ pid: number; durationMs: number }> {
    const t0 = this.clock.now();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    if (this.child?.pid) return { pid: this.child.pid, durationMs: 0 };
    if (!this.isInitialized()) throw new PgControlError('PG_NOT_RUNNING', `start: ${this.dataDir} is not a data directory (no PG_VERSION)`);
    if (isCloneIncomplete(this.dataDir)) {
      throw new PgControlError('PG_START_FAILED', `start: ${this.dataDir} holds an unfinished clone (${cloneMarker(this.dataDir)}): re-clone it`);
    }
    this.clearStalePid();
    prepareDir(this.socketDir, this.user, 0o700);

    let stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
    let logFd: number | undefined;
    if (this.logFile) {
      fs.mkdirSync(path.dirname(this.logFile), { recursive: true, mode: 0o700 });
      logFd = fs.openSync(this.logFile, 'a', 0o600);
      this.logOffsetAtStart = fs.fstatSync(logFd).size;
      stdio = ['ignore', logFd, logFd];
    }
    let child: ChildProcess;
    try {
      const launch = this.postmasterLaunch();
      child = spawn(launch.command, launch.args, {
        cwd: this.dataDir,
        env: this.childEnv(),
        stdio,
        detached: true,
        ...launch.identity,
      });
    } finally {
      if (logFd !== undefined) fs.closeSync(logFd); // the child keeps its own copy
    }
    this.child = child;
    this.stopRequested = false;
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    const spawnError = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawnError || child.pid === undefined) {
      if (this.child === child) this.child = undefined;
      throw new PgControlError('PG_START_FAILED', `cannot spawn ${binPath(this.binaries, 'postgres')}: ${String(spawnError)}`, [], {
        cause: spawnError,
      });
    }
    const pid = child.pid;
    if (!this.logFile) this.pipeToLogger(child);
    this.log.info({ pid }, `postgres started (pid ${pid}) on ${this.listenAddress}:${this.port}`);

    const deadline = t0 + timeoutMs;
    let lastErr = 'not ready yet';
    for (;;) {
      if (this.child !== child) {
        const e = this.lastExitInfo;
        throw new PgControlError(
          'PG_START_FAILED',
          `postgres exited during start-up (code ${e?.code ?? '?'}, signal ${e?.signal ?? 'none'})`,
          this.logTail(15),
        );
      }
      const st = readPostmasterPid(this.dataDir);
      if (st && st.pid === pid && (st.status === 'ready' || st.status === 'standby')) {
        try {
          await this.withClient((c) => c.query('SELECT 1'), { statementTimeoutMs: 5_000 });
          const durationMs = this.clock.now() - t0;
          this.log.info({ pid, durationMs, status: st.status }, `postgres accepts connections (${st.status}) after ${durationMs} ms`);
          this.emit('ready', { pid, durationMs });
          return { pid, durationMs };
        } catch (err) {
          lastErr = err instanceof Error ? err.message : String(err);
        }
      } else if (st) {
        lastErr = `postmaster.pid status: ${st.status ?? '(none)'}`;
      }
      if (this.clock.now() >= deadline) {
        throw new PgControlError('PG_START_TIMEOUT', `postgres (pid ${pid}) did not accept connections within ${timeoutMs} ms: ${lastErr}`, this.logTail(15));
      }
      await sleep(this.clock, POLL_MS);
    }
  }

  /** Remove postmaster.pid (and socket lock files) left by a postmaster that no longer runs. */
  private clearStalePid(): void {
    const pidFile = readPostmasterPid(this.dataDir);
    const raw = fs.existsSync(path.join(this.dataDir, 'postmaster.pid'));
    if (!raw) return;
    if (pidFile && isPostmasterFor(pidFile.pid, this.dataDir)) {
      throw new PgControlError(
        'PG_ALREADY_RUNNING',
        `a postmaster (pid ${pidFile.pid}) already runs on ${this.dataDir} and is not a child of this agent`,
        ['stop it with stopOrphan(), or stop the other agent that owns it'],
      );
    }
    fs.rmSync(path.join(this.dataDir, 'postmaster.pid'), { force: true });
    for (const f of [`.s.PGSQL.${this.port}`, `.s.PGSQL.${this.port}.lock`]) fs.rmSync(path.join(this.socketDir, f), { force: true });
    this.log.warn({ stalePid: pidFile?.pid }, `removed a stale postmaster.pid (pid ${pidFile?.pid ?? '?'} is not a running postmaster here)`);
  }

  private pipeToLogger(child: ChildProcess): void {
    for (const [stream, level] of [[child.stdout, 'info'], [child.stderr, 'warn']] as const) {
      if (!stream) continue;
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (s: string) => {
        buf += s;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line) this.log[level]({ server: true }, line);
        }
      });
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.sql.drop();
    const info: ExitInfo = { code, signal, at: this.clock.now(), requested: this.stopRequested };
    this.lastExitInfo = info;
    if (info.requested) this.log.info({ code, signal }, `postgres exited (code ${code}, signal ${signal ?? 'none'})`);
    else this.log.warn({ code, signal, tail: this.logTail(5) }, `postgres exited unexpectedly (code ${code}, signal ${signal ?? 'none'})`);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w(info);
    this.emit('exit', info);
  }

  private waitExit(timeoutMs: number): Promise<ExitInfo | undefined> {
    if (!this.child) return Promise.resolve(this.lastExitInfo);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
        resolve(undefined);
      }, timeoutMs);
      const onExit = (e: ExitInfo): void => {
        this.clock.clearTimeout(timer);
        resolve(e);
      };
      this.exitWaiters.push(onExit);
    });
  }

  /**
   * Stop via a signal: smart = SIGTERM (waits for sessions), fast = SIGINT (disconnects them,
   * checkpoints), immediate = SIGQUIT (no checkpoint: crash recovery on next start). Resolves
   * on exit. An orphan postmaster is stopped the same way (polling, as it is not our child).
   */
  async stop(mode: StopMode = 'fast', opts: StopOptions = {}): Promise<StopResult> {
    const t0 = this.clock.now();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const escalate = opts.escalate ?? true;
    await this.closeAdmin();
    const child = this.child;
    if (!child?.pid) {
      const orphan = this.detect();
      if (orphan.state === 'orphan') return this.stopOrphan(mode, opts);
      return { code: null, signal: null, at: t0, requested: true, mode, durationMs: 0, escalated: false, wasRunning: false };
    }
    this.stopRequested = true;
    this.log.info({ mode, pid: child.pid }, `stopping postgres (${mode})`);
    const order: Array<StopMode | 'kill'> = [mode];
    if (escalate) {
      if (mode !== 'immediate') order.push('immediate');
      order.push('kill');
    }
    let escalated = false;
    for (const [i, step] of order.entries()) {
      if (step === 'kill') this.signalGroup(child.pid, 'SIGKILL');
      else this.signal(child.pid, STOP_SIGNALS[step]);
      const info = await this.waitExit(timeoutMs);
      if (info) {
        const durationMs = this.clock.now() - t0;
        return { ...info, mode, durationMs, escalated, wasRunning: true };
      }
      if (i < order.length - 1) {
        escalated = true;
        this.log.warn({ mode: step, timeoutMs }, `postgres did not stop (${step}) within ${timeoutMs} ms: escalating to ${order[i + 1]}`);
      }
    }
    throw new PgControlError('PG_STOP_TIMEOUT', `postgres (pid ${child.pid}) did not exit within ${timeoutMs} ms (${mode})`);
  }

  /** SIGKILL the postmaster's process group (postmaster and every backend) and wait for the exit. */
  async kill(): Promise<StopResult> {
    const t0 = this.clock.now();
    const child = this.child;
    this.sql.drop();
    if (!child?.pid) {
      const orphan = this.detect();
      if (orphan.state === 'orphan') {
        this.signalGroup(orphan.pid, 'SIGKILL');
        await this.waitGone(orphan.pid, 10_000);
        return { code: null, signal: 'SIGKILL', at: this.clock.now(), requested: true, mode: 'kill', durationMs: this.clock.now() - t0, escalated: false, wasRunning: true };
      }
      return { code: null, signal: null, at: t0, requested: true, mode: 'kill', durationMs: 0, escalated: false, wasRunning: false };
    }
    this.stopRequested = true;
    this.signalGroup(child.pid, 'SIGKILL');
    const info = (await this.waitExit(10_000)) ?? { code: null, signal: 'SIGKILL' as NodeJS.Signals, at: this.clock.now(), requested: true };
    return { ...info, mode: 'kill', durationMs: this.clock.now() - t0, escalated: false, wasRunning: true };
  }

  /** Stop a postmaster that is not our child (left by a previous agent), polling for its end. */
  async stopOrphan(mode: StopMode = 'fast', opts: StopOptions = {}): Promise<StopResult> {
    const t0 = this.clock.now();
    const st = this.detect();
    if (st.state !== 'orphan') {
      return { code: null, signal: null, at: t0, requested: true, mode, durationMs: 0, escalated: false, wasRunning: false };
    }
    const timeoutMs = opts.timeoutMs ?? 60_000;
    this.log.warn({ pid: st.pid, mode }, `stopping orphan postmaster pid ${st.pid} (${mode})`);
    const order: Array<StopMode | 'kill'> = [mode, ...(opts.escalate ?? true ? (mode !== 'immediate' ? ['immediate', 'kill'] : ['kill']) : [])] as Array<StopMode | 'kill'>;
    let escalated = false;
    for (const step of order) {
      if (step === 'kill') this.signalGroup(st.pid, 'SIGKILL');
      else this.signal(st.pid, STOP_SIGNALS[step]);
      if (await this.waitGone(st.pid, timeoutMs)) {
        return { code: null, signal: null, at: this.clock.now(), requested: true, mode, durationMs: this.clock.now() - t0, escalated, wasRunning: true };
      }
      escalated = true;
    }
    throw new PgControlError('PG_STOP_TIMEOUT', `orphan postmaster pid ${st.pid} did not exit`);
  }

  private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs;
    while (this.clock.now() < deadline) {
      if (!isPostmasterFor(pid, this.dataDir)) return true;
      await sleep(this.clock, POLL_MS);
    }
    return !isPostmasterFor(pid, this.dataDir);
  }

  private signal(pid: number, sig: NodeJS.Signals): void {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  private signalGroup(pid: number, sig: NodeJS.Signals): void {
    try {
      process.kill(-pid, sig);
    } catch {
      this.signal(pid, sig);
    }
  }

  // -------------------------------------------------------------------------------------------
  // SQL

  /** pg client settings for the superuser over this member's socket. */
  clientConfig(extra: pg.ClientConfig = {}): pg.ClientConfig {
    return {
      host: this.socketDir,
      port: this.port,
      user: this.superuser,
      database: 'postgres',
      application_name: 'bulwark-agent',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      ...extra,
    };
  }

  /** Close the shared admin connection (before a smart shutdown, and when done with the member). */
  closeAdmin(): Promise<void> {
    return this.sql.close();
  }

  /** One statement on the shared admin connection (sql-connection.ts); its rows. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    if (!this.child && this.detect().state !== 'orphan') {
      throw new PgControlError('PG_NOT_RUNNING', `query on ${this.name}: postgres is not running`);
    }
    return this.sql.query<R>(sql, params);
  }

  /** A dedicated short-lived connection (for long or session-changing work). */
  withClient<T>(fn: (c: pg.Client) => Promise<T>, opts: QueryOptions = {}): Promise<T> {
    return this.sql.withClient(fn, opts);
  }

  /**
   * New pg_hba rules (the cluster's members or clients changed). A running server gets them
   * without a restart: the file is written, checked by PostgreSQL's own parser
   * (pg_hba_file_rules reads the file on disk), then loaded by pg_reload_conf(). A file it would
   * reject is put back as it was, so the rules in force stay, and the error says which line.
   * A stopped server reads them at its next start.
   */
  async replaceHba(rules: readonly HbaRule[]): Promise<void> {
    if (!this.isRunning) {
      this.hbaRules = rules;
      return;
    }
    const file = path.join(this.dataDir, 'pg_hba.conf');
    const before = fs.readFileSync(file, 'utf8');
    this.writeHba(rules);
    try {
      // Some mistakes (a bad clientcert value) leave `error` empty and only the type unset.
      const bad = await this.query<{ line_number: number | null; error: string | null }>(
        'SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL OR type IS NULL ORDER BY line_number');
      if (bad.length > 0) {
        const lines = bad.map((b) => `line ${b.line_number ?? '?'}: ${b.error ?? 'not understood (the server log says why)'}`);
        throw new Error(`PostgreSQL rejects the new pg_hba.conf: ${lines.join('; ')}`);
      }
      await this.query('SELECT pg_reload_conf()');
    } catch (err) {
      writeOwnedFile(file, before, this.user, 0o600);
      throw err;
    }
    this.hbaRules = rules;
    this.log.info({ rules: rules.length }, 'pg_hba.conf rewritten and reloaded');
  }

  /**
   * A renewed member certificate: the copies are rewritten and a running server reloads them
   * (PostgreSQL re-reads its SSL files on reload). New connections, walreceiver's included, use it.
   */
  async refreshTls(pem: MemberTls['pem']): Promise<void> {
    if (!this.tls) return;
    this.tls = { ...this.tls, pem };
    if (this.tlsWritten) this.tlsWritten = writeMemberTls(this.tls, this.user);
    if (this.isRunning) await this.query('SELECT pg_reload_conf()');
  }

  /** pg_reload_conf(); returns the settings that still need a restart (pending_restart). */
  async reload(): Promise<{ pendingRestart: string[] }> {
    await this.query('SELECT pg_reload_conf()');
    // The reload is asynchronous: give the postmaster a moment, then ask a fresh session (it
    // starts from the postmaster's reloaded state).
    await sleep(this.clock, 100);
    const rows = await this.withClient(async (c) => (await c.query<{ name: string }>('SELECT name FROM pg_settings WHERE pending_restart')).rows);
    const pendingRestart = rows.map((r) => r.name);
    this.log.info({ pendingRestart }, pendingRestart.length ? `configuration reloaded; restart needed for ${pendingRestart.join(', ')}` : 'configuration reloaded');
    return { pendingRestart };
  }

  async isInRecovery(): Promise<boolean> {
    const [row] = await this.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    return row?.r === true;
  }

  /**
   * Can this server commit a write right now? Assigns a transaction id and commits it (with
   * synchronous_commit = local, so a sync-standby wait cannot hang the check). Read-only
   * transactions (recovery, default_transaction_read_only) make it false.
   */
  async isWritable(): Promise<boolean> {
    try {
      await this.withClient(
        (c) => c.query('BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_current_xact_id(); COMMIT;'),
        { statementTimeoutMs: 5_000 },
      );
      return true;
    } catch {
      return false;
    }
  }

  /** The timeline this primary writes on (from the current WAL file name). */
  async currentTimeline(): Promise<number> {
    const [row] = await this.query<{ tli: number }>(
      `SELECT CASE WHEN pg_is_in_recovery()
                   THEN (SELECT received_tli FROM pg_stat_wal_receiver)
                   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tli`,
    );
    return Number(row?.tli ?? 0);
  }

  /**
   * Promote a replica: `pg_promote(false)`, then wait until pg_is_in_recovery() is false AND a
   * test transaction commits. Only then is it reported writable. (pg_promote's own wait looks
   * only every 100 ms: a tenth of a second of a switchover's write gap; we poll every 20 ms.)
   */
  async promote(opts: { timeoutMs?: number } = {}): Promise<PromoteResult> {
    const t0 = this.clock.now();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    if (!(await this.isInRecovery())) {
      if (!(await this.isWritable())) throw new PgControlError('PG_PROMOTE_FAILED', `${this.name} is not in recovery but not writable either`);
      return { durationMs: this.clock.now() - t0, timeline: await this.currentTimeline(), alreadyPrimary: true };
    }
    this.log.info(`promoting ${this.name}`);
    const [res] = await this.query<{ ok: boolean }>('SELECT pg_promote(false) AS ok');
    if (res?.ok !== true) throw new PgControlError('PG_PROMOTE_FAILED', `${this.name}: pg_promote could not signal the promotion`, this.logTail(10));
    const deadline = t0 + timeoutMs;
    for (;;) {
      if (!this.child) throw new PgControlError('PG_PROMOTE_FAILED', `${this.name} exited while promoting`, this.logTail(10));
      try {
        if (!(await this.isInRecovery()) && (await this.isWritable())) break;
      } catch {
        /* retry */
      }
      if (this.clock.now() >= deadline) throw new PgControlError('PG_PROMOTE_FAILED', `${this.name} not writable ${timeoutMs} ms after pg_promote`, this.logTail(10));
      await sleep(this.clock, 20);
    }
    const timeline = await this.currentTimeline();
    const durationMs = this.clock.now() - t0;
    this.log.info({ durationMs, timeline }, `${this.name} promoted: writable on timeline ${timeline} after ${durationMs} ms`);
    return { durationMs, timeline, alreadyPrimary: false };
  }

  /**
   * Run a PostgreSQL program (initdb, pg_rewind, pg_controldata…) as the service user; collects
   * its output lines.
   */
  async runProgram(program: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; output: string[] }> {
    const child = spawn(binPath(this.binaries, program), args, {
      cwd: path.dirname(this.dataDir),
      env: this.childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...this.spawnIdentity(),
    });
    const chunks: string[] = [];
    child.stdout?.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (err) => {
        this.clock.clearTimeout(timer);
        reject(new PgControlError('PG_BINARIES_NOT_FOUND', `cannot run ${program}: ${err.message}`, [], { cause: err }));
      });
      child.once('close', (c) => {
        this.clock.clearTimeout(timer);
        resolve(c);
      });
    });
    const output = chunks.join('').split('\n').filter((l) => l.length > 0);
    for (const line of output) this.log.debug({ program }, line);
    return { code, output };
  }
}
