/**
 * CPU accounting from /proc: a process's utime+stime (all its threads, in clock ticks), the
 * children of a process (nginx workers), and per-core busy time from /proc/stat.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux almost everywhere). */
export function clkTck(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** Fields of /proc/<pid>/stat after the comm: index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime+stime of one process (summed over its threads by the kernel), in seconds; 0 when gone. */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return 0;
  // Field 14 utime and 15 stime (1-based) → indices 11 and 12 here.
  return (Number(f[11]) + Number(f[12])) / clkTck();
}

export function cpuSeconds(pids: readonly number[]): number {
  let s = 0;
  for (const pid of pids) s += processCpuSeconds(pid);
  return s;
}

/** PIDs whose parent is `pid` (scans /proc; works without CONFIG_PROC_CHILDREN). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === pid) out.push(Number(name));
  }
  return out;
}

export interface CoreTimes {
  /** user + nice + system: time in processes (including their syscalls). */
  task: number;
  /** irq + softirq: kernel work not charged to any process (e.g. loopback packet delivery). */
  irq: number;
  busy: number;
  total: number;
}

/** Jiffies per core from /proc/stat. */
export function coreTimes(): CoreTimes[] {
  const out: CoreTimes[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    // guest time is already inside user.
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    out[Number(m[1])] = { task: user + nice + system, irq: irq + softirq, busy: total - idle - iowait, total };
  }
  return out;
}

export interface CoreShare {
  /** Share (0..1) of wall time the core was busy, in processes, in irq/softirq. */
  busy: number;
  task: number;
  irq: number;
}

/** Shares of each core between two snapshots. */
export function coreShares(before: CoreTimes[], after: CoreTimes[]): CoreShare[] {
  return after.map((a, i) => {
    const b = before[i];
    const total = b ? a.total - b.total : 0;
    if (!b || total <= 0) return { busy: 0, task: 0, irq: 0 };
    return { busy: (a.busy - b.busy) / total, task: (a.task - b.task) / total, irq: (a.irq - b.irq) / total };
  });
}
