/**
 * Read `global/pg_control` without any binary (the npm package has no pg_controldata): the
 * system identifier, the cluster state and the timeline of the last checkpoint. Lets the HA loop
 * ask a STOPPED member "same cluster? cleanly shut down? which timeline?".
 *
 * Only the head of ControlFileData is read; its layout has been stable since 9.x
 * (uint64 system_identifier, uint32 pg_control_version, uint32 catalog_version_no, DBState
 * state, pg_time_t time, XLogRecPtr checkPoint, CheckPoint {redo, ThisTimeLineID,
 * PrevTimeLineID, …}), little-endian on x86-64.
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatLsn } from './sql.js';

export type ClusterState =
  | 'starting up'
  | 'shut down'
  | 'shut down in recovery'
  | 'shutting down'
  | 'in crash recovery'
  | 'in archive recovery'
  | 'in production'
  | 'unknown';

const STATES: ClusterState[] = [
  'starting up',
  'shut down',
  'shut down in recovery',
  'shutting down',
  'in crash recovery',
  'in archive recovery',
  'in production',
];

export interface ControlData {
  /** As a decimal string (uint64). */
  readonly systemIdentifier: string;
  readonly controlVersion: number;
  readonly state: ClusterState;
  /** ms since the epoch of the last pg_control update. */
  readonly time: number;
  readonly checkpointLsn: string;
  readonly redoLsn: string;
  readonly checkpointTimeline: number;
  readonly prevTimeline: number;
  /** True for `shut down` and `shut down in recovery`: pg_rewind accepts it as a target. */
  readonly cleanlyShutDown: boolean;
}

export function parseControlFile(buf: Buffer): ControlData {
  if (buf.length < 64) throw new Error(`pg_control is too short (${buf.length} bytes)`);
  const controlVersion = buf.readUInt32LE(8);
  if (controlVersion < 900 || controlVersion > 9999) throw new Error(`pg_control: unexpected pg_control_version ${controlVersion}`);
  const stateNum = buf.readInt32LE(16);
  const state = STATES[stateNum] ?? 'unknown';
  return {
    systemIdentifier: buf.readBigUInt64LE(0).toString(),
    controlVersion,
    state,
    time: Number(buf.readBigInt64LE(24)) * 1000,
    checkpointLsn: formatLsn(buf.readBigUInt64LE(32)),
    redoLsn: formatLsn(buf.readBigUInt64LE(40)),
    checkpointTimeline: buf.readUInt32LE(48),
    prevTimeline: buf.readUInt32LE(52),
    cleanlyShutDown: state === 'shut down' || state === 'shut down in recovery',
  };
}

export function readControlFile(dataDir: string): ControlData | undefined {
  try {
    return parseControlFile(fs.readFileSync(path.join(dataDir, 'global', 'pg_control')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
