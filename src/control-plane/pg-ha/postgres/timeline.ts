/**
 * Timeline history files (`pg_wal/0000000N.history`): the ancestry of timeline N, one line per
 * ancestor, `parentTLI <tab> switchpoint LSN <tab> reason`. The switchpoint is where that
 * ancestor ended and its child forked off: WAL of the ancestor past it is not in N's history.
 * A primary publishes its ancestry so a stopped member can tell whether its own WAL is a prefix
 * of the primary's (it may follow) or went past a fork point (it must be re-cloned).
 */
import fs from 'node:fs';
import path from 'node:path';
import { lsnToBigInt } from './sql.js';

export interface TimelineSwitch {
  readonly timeline: number;
  /** WAL position (bytes) where this timeline ended in the history. */
  readonly end: number;
}

export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(\s|$)/.exec(line);
    if (!m) throw new Error(`timeline history: unexpected line ${JSON.stringify(line)}`);
    out.push({ timeline: Number(m[1]), end: Number(lsnToBigInt(m[2]!)) });
  }
  return out;
}

/** The ancestry of `timeline` from this data dir ([] for timeline 1, which has none). */
export function readTimelineHistory(dataDir: string, timeline: number): TimelineSwitch[] {
  if (timeline <= 1) return [];
  return parseTimelineHistory(fs.readFileSync(path.join(dataDir, 'pg_wal', historyFileName(timeline)), 'utf8'));
}

/**
 * Remove the history files of timelines above `timeline`. A standby that already knows a newer
 * timeline at start-up replays its local WAL along that timeline without checking where it forked
 * off; without the file it first replays its own WAL, then fetches the history from its primary
 * and refuses to switch if it went past the fork point. So PostgreSQL checks the fork point
 * itself too. Returns the names removed.
 */
export function removeNewerHistoryFiles(dataDir: string, timeline: number): string[] {
  const dir = path.join(dataDir, 'pg_wal');
  const removed: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    const m = /^([0-9A-F]{8})\.history$/.exec(f);
    if (!m || parseInt(m[1]!, 16) <= timeline) continue;
    fs.rmSync(path.join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}
