/**
 * Process facts from /proc. A pid alone is not proof of life: a dead child whose parent is gone
 * may linger as a zombie (these machines' PID 1 does not reap), and a pid may be reused. We read
 * the state and the start time.
 */
import fs from 'node:fs';

export interface ProcInfo {
  readonly pid: number;
  readonly state: string;
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  readonly startTicks: number;
}

export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { pid, state: fields[0]!, startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (and, when given, the same process that was recorded). */
export function isAlive(pid: number, startTicks?: number): boolean {
  const info = procInfo(pid);
  if (!info || info.state === 'Z' || info.state === 'X') return false;
  return startTicks === undefined || info.startTicks === startTicks;
}

export interface PidRecord {
  readonly pid: number;
  readonly startTicks: number;
}

export function writePidFile(file: string, pid: number): void {
  const info = procInfo(pid);
  fs.writeFileSync(file, JSON.stringify({ pid, startTicks: info?.startTicks ?? 0 }) + '\n');
}

export function readPidFile(file: string): PidRecord | undefined {
  try {
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
    return typeof rec.pid === 'number' ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** Signal a whole process group (a node and the children it supervises). */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
