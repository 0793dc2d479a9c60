/** Running wrk and reading its report (`--latency` output of wrk 4.x). */
import type { ProcessGroup } from './procs.js';

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

/** "1.23ms" / "850.00us" / "1.02s" / "2.00m" → milliseconds. */
export function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  switch (m[2]) {
    case 'us': return v / 1000;
    case 'ms': return v;
    case 's': return v * 1000;
    default: return v * 60_000;
  }
}

export function parseWrk(out: string): WrkResult {
  const req = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  if (!req) throw new Error(`cannot read wrk output:\n${out}`);
  const requests = Number(req[1]);
  const seconds = durationMs(req[2]! + req[3]!) / 1000;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? requests / seconds);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? durationMs(m[1]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { requests, seconds, rps, p50: pct('50'), p99: pct('99'), non2xx, socketErrors, raw: out };
}

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  close: boolean;
  /** CPU list for taskset (e.g. "1"); undefined runs unpinned. */
  cpu: string | undefined;
}

/** Run wrk to completion (killed by PID if it overruns by 15 s) and parse its report. */
export async function runWrk(group: ProcessGroup, o: WrkOptions): Promise<WrkResult> {
  const wrkArgs = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '--timeout', '5s'];
  if (o.close) wrkArgs.push('-H', 'Connection: close');
  wrkArgs.push(o.url);
  return parseWrk(await runTool(group, 'wrk', wrkArgs, o.seconds, o.cpu));
}

/**
 * Run a load tool to completion (pinned to `cpu` with taskset when given; killed by PID if it
 * overruns `seconds` by 15 s) and return its standard output; a non-zero exit throws.
 */
export async function runTool(group: ProcessGroup, tool: string, toolArgs: readonly string[], seconds: number, cpu: string | undefined): Promise<string> {
  const [cmd, args] = cpu !== undefined ? ['taskset', ['-c', cpu, tool, ...toolArgs]] : [tool, [...toolArgs]];
  const p = group.start(tool, cmd, args as string[]);
  let out = '';
  p.child.stdout?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  // 'exit' can come before the last of stdout has been read: wait for the stream's end too.
  const drained = new Promise<void>((resolve) => {
    if (!p.child.stdout || p.child.stdout.readableEnded) resolve();
    else p.child.stdout.once('end', () => resolve()).once('close', () => resolve());
  });
  const timer = setTimeout(() => void group.stop(p, 500), (seconds + 15) * 1000);
  const code = await p.exited;
  await Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${tool} exited with ${code}:\n${out}\n${p.output()}`);
  return out;
}
