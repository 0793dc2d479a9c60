/**
 * The test's side of a lab probe (lab-probe.ts): start one in a lab host and call it. Operations:
 *   agent        an agent API call as the admin, from that host
 *   http         a plain HTTP request from that host
 *   load.*       the drill load from that host: paced writers (POST /api/notes, every ack kept with
 *                the member that committed it) and retrying readers (the longest silence)
 *   verify       read every acknowledged note back by id
 *   watch.*      sample a condition (an agent route answering 200, or an address on this host)
 *                and report the periods it held, to compare across hosts on one clock
 */
import path from 'node:path';
import readline from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import type { AgentTarget } from '../../src/control-plane/agent-api/index.js';
import type { Ack, Failure } from '../../src/cli/drill/writes.js';
import { REPO } from './cli.js';
import type { NetnsLab } from './netns-lab.js';
import type { RetryingLoadResult } from './retrying-load.js';

export type WatchSpec =
  | { kind: 'agent'; address: string; agentPort: number; path: string; intervalMs: number }
  | { kind: 'address'; address: string; intervalMs: number };

export type ProbeRequest = { id: number } & (
  | { op: 'agent'; target: AgentTarget; method: 'GET' | 'POST'; path: string; body?: unknown; timeoutMs?: number }
  | { op: 'http'; url: string; method?: 'GET' | 'POST'; body?: string; timeoutMs?: number }
  | { op: 'load.start'; base: string; writers: number; paceMs: number; readers: number; readPath: string; maxMs: number; tag: string }
  | { op: 'load.progress' }
  | { op: 'load.stop' }
  | { op: 'verify'; base: string; acks: readonly Ack[] }
  | { op: 'watch.start'; name: string; watch: WatchSpec }
  | { op: 'watch.stop'; name: string }
);

type Op = ProbeRequest extends infer R ? (R extends { op: infer O } ? O : never) : never;
type Args<O extends Op> = Omit<Extract<ProbeRequest, { op: O }>, 'id' | 'op'>;

export interface LoadResult {
  acks: Ack[];
  failures: Failure[];
  reads: RetryingLoadResult;
}

export interface Period {
  readonly from: number;
  readonly to: number;
}

const PROBE = path.join(REPO, 'dist/test/harness/lab-probe.js');

export class LabProbe {
  private readonly child: ChildProcess;
  private next = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; what: string }>();

  constructor(lab: NetnsLab, readonly host: string, adminDir: string) {
    this.child = lab.spawn(host, [process.execPath, PROBE, adminDir], `probe-${host}`, {}, { pipes: true });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`probe on ${host}, ${p.what}: ${msg.error}`));
    });
    this.child.once('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`probe on ${host} exited (${code ?? signal}) during ${p.what}`));
      this.pending.clear();
    });
    this.child.stdin!.on('error', () => undefined);
  }

  call<T>(op: 'agent', args: Args<'agent'>): Promise<{ status: number; body: T }>;
  call(op: 'http', args: Args<'http'>): Promise<{ status: number; body: string }>;
  call(op: 'load.start', args: Args<'load.start'>): Promise<{ started: number }>;
  call(op: 'load.progress', args: Args<'load.progress'>): Promise<{ acks: number; lastAck: Ack | undefined; failures: number; reads: number }>;
  call(op: 'load.stop', args: Args<'load.stop'>): Promise<LoadResult>;
  call(op: 'verify', args: Args<'verify'>): Promise<{ lost: Ack[]; unverified: number; ms: number }>;
  call(op: 'watch.start', args: Args<'watch.start'>): Promise<{ started: number }>;
  call(op: 'watch.stop', args: Args<'watch.stop'>): Promise<[number, number][]>;
  call(op: Op, args: object): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`probe on ${this.host} is not running`));
        return;
      }
      this.pending.set(id, { resolve, reject, what: op });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** An agent call that yields undefined instead of throwing when nobody answers. */
  async agent<T>(target: AgentTarget, method: 'GET' | 'POST', p: string, body?: unknown, timeoutMs = 1500): Promise<{ status: number; body: T } | undefined> {
    return this.call<T>('agent', { target, method, path: p, ...(body !== undefined && { body }), timeoutMs }).catch(() => undefined);
  }

  async watchStop(name: string): Promise<Period[]> {
    return (await this.call('watch.stop', { name })).map(([from, to]) => ({ from, to }));
  }

  close(): void {
    this.child.stdin!.end();
  }
}

/** Moments when periods of different hosts overlap (each period is a [first, last] sample). */
export function overlaps(byHost: Record<string, readonly Period[]>): string[] {
  const all = Object.entries(byHost).flatMap(([host, ps]) => ps.map((p) => ({ host, ...p })));
  const found: string[] = [];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.host === b.host) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      if (from <= to) found.push(`${a.host} and ${b.host} from ${new Date(from).toISOString()} for ${to - from} ms`);
    }
  }
  return found;
}
