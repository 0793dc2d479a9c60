/**
 * A probe inside one host of the network-namespace lab, driven by the test over its stdin/stdout
 * (JSON lines: `{id, op, …}` in, `{id, ok, result | error}` out). Pipes are not network: the test
 * keeps talking to a probe whose host is cut off, which is how a drill watches both sides of a
 * partition. See lab-probe-client.ts for the operations.
 *
 * Usage (in a lab host): node lab-probe.js ADMIN_STATE_DIR
 * ADMIN_STATE_DIR holds pki/ca.crt and pki/admin.crt|key (`bulwark certs issue --admin --out`).
 */
import os from 'node:os';
import readline from 'node:readline';
import { agentCall } from './agent-tls.js';
import { startRetryingLoad, type RetryingLoad } from './retrying-load.js';
import { startWriters, verifyAcks, type Ack, type Writers } from '../../src/cli/drill/writes.js';
import type { ProbeRequest, WatchSpec } from './lab-probe-client.js';

const adminDir = process.argv[2];
if (!adminDir) {
  console.error('usage: lab-probe ADMIN_STATE_DIR');
  process.exit(2);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Periods [from, to] (ms since the epoch) during which a watched condition held, sample to sample. */
class Watch {
  readonly periods: [number, number][] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly spec: WatchSpec) {
    this.done = this.run();
  }

  private async holds(): Promise<boolean> {
    const s = this.spec;
    if (s.kind === 'address') return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === s.address));
    try {
      const r = await agentCall(adminDir!, { address: s.address, agentPort: s.agentPort }, 'GET', s.path, undefined, Math.max(200, s.intervalMs * 4));
      return r.status === 200;
    } catch {
      return false;
    }
  }

  private async run(): Promise<void> {
    let open: [number, number] | undefined;
    while (!this.stopped) {
      const before = Date.now();
      const yes = await this.holds();
      // Samples further apart than this (the probe itself was starved) do not vouch for the time
      // between them: the condition may have gone and come back unseen.
      if (open && before - open[1] > 3 * this.spec.intervalMs) open = undefined;
      if (yes) {
        if (open) open[1] = before;
        else this.periods.push((open = [before, before]));
      } else open = undefined;
      await sleep(Math.max(0, this.spec.intervalMs - (Date.now() - before)));
    }
  }

  async stop(): Promise<[number, number][]> {
    this.stopped = true;
    await this.done;
    return this.periods;
  }
}

let writes: Writers | undefined;
let reads: RetryingLoad | undefined;
const watches = new Map<string, Watch>();

async function handle(req: ProbeRequest): Promise<unknown> {
  switch (req.op) {
    case 'agent':
      return agentCall(adminDir!, req.target, req.method, req.path, req.body, req.timeoutMs ?? 2000);
    case 'http': {
      const res = await fetch(req.url, { method: req.method ?? 'GET', signal: AbortSignal.timeout(req.timeoutMs ?? 2000), ...(req.body !== undefined && { body: req.body }) });
      return { status: res.status, body: await res.text() };
    }
    case 'load.start':
      if (writes || reads) throw new Error('a load is already running');
      writes = startWriters(req.base, { writers: req.writers, paceMs: req.paceMs, maxMs: req.maxMs, timeoutMs: 10_000, tag: req.tag });
      reads = startRetryingLoad(`${req.base}${req.readPath}`, { concurrency: req.readers, maxMs: req.maxMs, requestDeadlineMs: 10_000 });
      return { started: Date.now() };
    case 'load.progress':
      return { acks: writes?.acks.length ?? 0, lastAck: writes?.acks.at(-1), failures: writes?.failures.length ?? 0, reads: reads?.ok() ?? 0 };
    case 'load.stop': {
      if (!writes || !reads) throw new Error('no load is running');
      const [, readResult] = await Promise.all([writes.stop(), reads.stop()]);
      const result = { acks: writes.acks, failures: writes.failures, reads: readResult };
      writes = undefined;
      reads = undefined;
      return result;
    }
    case 'verify': {
      const v = await verifyAcks(req.base, req.acks as Ack[], { concurrency: 8, retryMs: 15_000, totalMs: 60_000 });
      return { lost: v.lost, unverified: v.unverified.length, ms: v.ms };
    }
    case 'watch.start':
      if (watches.has(req.name)) throw new Error(`watch ${req.name} is already running`);
      watches.set(req.name, new Watch(req.watch));
      return { started: Date.now() };
    case 'watch.stop': {
      const w = watches.get(req.name);
      if (!w) throw new Error(`no watch ${req.name}`);
      watches.delete(req.name);
      return w.stop();
    }
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: ProbeRequest;
  try {
    req = JSON.parse(line) as ProbeRequest;
  } catch {
    process.stdout.write(`${JSON.stringify({ id: -1, ok: false, error: `not JSON: ${line.slice(0, 80)}` })}\n`);
    return;
  }
  handle(req).then(
    (result) => process.stdout.write(`${JSON.stringify({ id: req.id, ok: true, result })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id: req.id, ok: false, error: err.message })}\n`),
  );
});
// The test went away (or closed our stdin): nothing is left to answer to.
lines.on('close', () => process.exit(0));
