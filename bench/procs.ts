/**
 * Every process the benchmark starts goes through here, so all of them can be stopped by PID on
 * a normal exit, an error or Ctrl-C. Nothing is ever killed by name.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Last lines of stderr/stdout, for error messages. */
  output(): string;
}

/** The comm field of /proc/<pid>/stat, or undefined when the process is gone. */
export function commOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return commOf(pid) !== undefined && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ProcessGroup {
  private readonly procs: Managed[] = [];
  /** Grandchildren we learned about (nginx workers), with the comm they had: killed by PID only if still the same program. */
  private readonly extra = new Map<number, string>();
  private stopping: Promise<void> | undefined;

  start(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Managed {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    let tail = '';
    const keep = (b: Buffer): void => {
      tail = (tail + b.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.once('error', (err) => {
        keep(Buffer.from(String(err)));
        resolve('spawn-error');
      });
    });
    const m: Managed = { name, pid: child.pid, child, exited, output: () => tail };
    this.procs.push(m);
    return m;
  }

  /** Remember a process started by one of ours (e.g. an nginx worker) so cleanup can reach it. */
  adopt(pid: number): void {
    const comm = commOf(pid);
    if (comm !== undefined) this.extra.set(pid, comm);
  }

  /** SIGTERM one process, SIGKILL after graceMs; resolves once it has exited. */
  async stop(m: Managed, graceMs = 3000): Promise<void> {
    if (m.child.exitCode !== null || m.child.signalCode !== null) return;
    try {
      process.kill(m.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const done = await Promise.race([m.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await Promise.race([m.exited, sleep(1000)]);
    }
  }

  /** Last resort from a synchronous 'exit' handler: SIGKILL whatever of ours is still running. */
  killAllSync(): void {
    for (const m of this.procs) {
      if (m.child.exitCode === null && m.child.signalCode === null) {
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const [pid, comm] of this.extra) {
      if (alive(pid) && commOf(pid) === comm) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }

  /** Stop everything we started (newest first), then any adopted grandchildren still alive. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.procs].reverse().map((m) => this.stop(m)));
      for (const [pid, comm] of this.extra) {
        if (alive(pid) && commOf(pid) === comm) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    })();
    return this.stopping;
  }
}

/** True when nothing listens on 127.0.0.1:port and we may bind it. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Wait until 127.0.0.1:port accepts connections, or throw after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number, proc?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${proc.name} exited before listening on ${port}:\n${proc.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`);
    await sleep(50);
  }
}
