/**
 * A real etcd for tests: one member (or a cluster of several) on 127.0.0.1 (client and peer
 * ports below 32768), each with its own data folder, started and health-checked, killed by PID. Fault injection: kill (SIGKILL),
 * freeze/thaw (SIGSTOP/SIGCONT: a store that accepts connections but never answers), restart on
 * the same ports and data. Anything still running when the test process exits is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, randomPort } from './ports.js';

export const ETCD_BIN = '/usr/bin/etcd';
export const ETCD_MISSING = 'etcd not installed: apt-get install -y etcd-server';

export function etcdInstalled(): boolean {
  try {
    fs.accessSync(ETCD_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

export class EtcdProcess {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    readonly name = 'default',
    /** `--initial-cluster`: this member alone unless it is one of several. */
    private readonly initialCluster = `default=http://${HOST}:${peerPort}`,
  ) {}

  get endpoint(): string {
    return `http://${HOST}:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start a fresh etcd on free ports (retrying when a port turns out to be taken). */
  static async start(): Promise<EtcdProcess> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const clientPort = randomPort();
      let peerPort = randomPort();
      while (peerPort === clientPort) peerPort = randomPort();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-etcd-'));
      const etcd = new EtcdProcess(clientPort, peerPort, dataDir);
      try {
        await etcd.launch();
        return etcd;
      } catch (err) {
        lastErr = err;
        await etcd.stop();
        if (!/address already in use/i.test((err as Error).message)) break;
      }
    }
    throw lastErr;
  }

  /** Start a fresh cluster of `size` members on free ports (an election needs them all up at once). */
  static async startCluster(size: number): Promise<EtcdProcess[]> {
    const ports = new Set<number>();
    while (ports.size < 2 * size) ports.add(randomPort());
    const [clientPorts, peerPorts] = [[...ports].slice(0, size), [...ports].slice(size)];
    const names = clientPorts.map((_, i) => `m${i + 1}`);
    const initial = names.map((n, i) => `${n}=http://${HOST}:${peerPorts[i]}`).join(',');
    const members = names.map((n, i) => new EtcdProcess(clientPorts[i]!, peerPorts[i]!, fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-etcd-')), n, initial));
    try {
      await Promise.all(members.map((m) => m.launch()));
      return members;
    } catch (err) {
      await Promise.all(members.map((m) => m.stop()));
      throw err;
    }
  }

  /** Whether this member leads its cluster now (its own maintenance status). */
  async isLeader(): Promise<boolean> {
    const res = await fetch(`${this.endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
    return body.leader !== undefined && body.leader === body.header?.member_id;
  }

  /** Start again on the same ports and data (after stop({ keepData: true }) or kill()). */
  async restart(): Promise<void> {
    if (this.child) throw new Error('etcd is still running');
    await this.launch();
  }

  /** SIGKILL by PID and wait for the exit; removes the data folder unless keepData. */
  async stop(opts: { keepData?: boolean } = {}): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await killAndWait(child);
    if (!opts.keepData) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** SIGSTOP: connections stay open, nothing is answered. */
  freeze(): void {
    this.signal('SIGSTOP');
  }

  thaw(): void {
    this.signal('SIGCONT');
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.child?.pid) throw new Error('etcd is not running');
    process.kill(this.child.pid, sig);
  }

  private async launch(): Promise<void> {
    const client = `http://${HOST}:${this.clientPort}`;
    const peer = `http://${HOST}:${this.peerPort}`;
    const child = spawn(
      ETCD_BIN,
      [
        '--name', this.name,
        '--data-dir', this.dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', this.initialCluster,
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, sig) => reject(new Error(`etcd exited (${code ?? sig}) before it was healthy: ${this.stderr.trim()}`)));
      child.once('error', (err) => reject(err));
    });
    exited.catch(() => undefined);
    await Promise.race([this.waitHealthy(child, 15_000), exited]);
  }

  private async waitHealthy(child: ChildProcess, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (res.ok && body.health === 'true') return;
        last = JSON.stringify(body);
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`etcd on ${this.endpoint} not healthy within ${timeoutMs} ms (${last}): ${this.stderr.trim()}`);
  }
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone;
}
