/** Running h2load (nghttp2's load generator) and reading its report, for the HTTP/2 figures. */
import type { ProcessGroup } from './procs.js';
import { durationMs, runTool, type WrkResult } from './wrk.js';

/** What h2load says; latency is only a mean (h2load prints no percentiles): p50/p99 are NaN. */
export interface H2loadResult extends WrkResult {
  meanMs: number;
}

export function parseH2load(out: string): H2loadResult {
  const fin = /finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (!fin || !req) throw new Error(`cannot read h2load output:\n${out}`);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out);
  const done = Number(req[3]);
  return {
    requests: done,
    seconds: durationMs(fin[1]! + fin[2]!) / 1000,
    rps: Number(fin[3]),
    p50: NaN,
    p99: NaN,
    meanMs: mean ? durationMs(mean[1]!) : NaN,
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0,
    socketErrors: Number(req[5]) + Number(req[6]) + Number(req[7]),
    raw: out,
  };
}

export interface H2loadOptions {
  url: string;
  seconds: number;
  /** Connections. */
  clients: number;
  /** Requests in flight per connection (HTTP/2 streams). */
  streams: number;
  /** Speak HTTP/1.1 instead (the direct baseline: the backends are plain HTTP/1.1). */
  h1: boolean;
  /** CPU list for taskset; undefined runs unpinned. */
  cpu: string | undefined;
}

/** Run h2load to completion (killed by PID if it overruns by 15 s) and parse its report. */
export async function runH2load(group: ProcessGroup, o: H2loadOptions): Promise<H2loadResult> {
  const args = ['-t1', `-c${o.clients}`, `-m${o.streams}`, '-D', String(o.seconds), ...(o.h1 ? ['--h1'] : []), o.url];
  return parseH2load(await runTool(group, 'h2load', args, o.seconds, o.cpu));
}
