/**
 * The embedded store's file: one JSON document rewritten on every write, atomically (write a
 * temporary file in the same folder, fsync it, rename it over the old one, fsync the folder), so
 * a reader (the store after a restart) sees either the old state or the new one, never half.
 * Expiry times are absolute (epoch milliseconds of the store's clock), so a restart neither
 * extends nor shortens a lease.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../../core/files.js';
import { isDocKey, isPlainObject, isValidName } from './common.js';
import type { DocKey, MemberData } from './types.js';

export const FILE_FORMAT = 'bulwark-embedded-dcs/1';

export interface PersistedLeader {
  holder: string;
  version: number;
  ttlMs: number;
  expiresAt: number;
}

export interface PersistedMember {
  name: string;
  data: MemberData;
  version: number;
  ttlMs: number;
  expiresAt: number;
}

export interface PersistedDoc {
  value: unknown;
  version: number;
}

export interface PersistedState {
  format: typeof FILE_FORMAT;
  cluster: string;
  revision: number;
  leader?: PersistedLeader;
  members: PersistedMember[];
  docs: Partial<Record<DocKey, PersistedDoc>>;
}

export function writeStateFile(file: string, state: PersistedState, fsync: boolean): void {
  const dir = path.dirname(file);
  writeFileAtomic(file, JSON.stringify(state), { mode: 0o600, fsync });
  if (fsync) {
    // The rename is durable only once the folder's entry is on disk.
    let dfd: number | undefined;
    try {
      dfd = fs.openSync(dir, 'r');
      fs.fsyncSync(dfd);
    } catch {
      // Some filesystems refuse to fsync a folder; the rename is still atomic.
    } finally {
      if (dfd !== undefined) fs.closeSync(dfd);
    }
  }
}

/** The state in `file`, or undefined when there is no file yet. Throws naming the file when it is not ours. */
export function readStateFile(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the embedded DCS file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const bad = (why: string): Error => new Error(`the embedded DCS file ${file} is not a valid store file: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(`invalid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(raw) || raw.format !== FILE_FORMAT) throw bad(`format is not "${FILE_FORMAT}"`);
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const isTime = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
  if (typeof raw.cluster !== 'string') throw bad('cluster is missing');
  if (!isCount(raw.revision)) throw bad('revision is not a non-negative integer');
  const state: PersistedState = { format: FILE_FORMAT, cluster: raw.cluster, revision: raw.revision, members: [], docs: {} };
  if (raw.leader !== undefined) {
    const l = raw.leader;
    if (!isPlainObject(l) || !isValidName(l.holder) || !isCount(l.version) || !isTime(l.ttlMs) || !isTime(l.expiresAt)) {
      throw bad('leader is malformed');
    }
    state.leader = { holder: l.holder, version: l.version, ttlMs: l.ttlMs, expiresAt: l.expiresAt };
  }
  if (!Array.isArray(raw.members)) throw bad('members is not a list');
  for (const m of raw.members as unknown[]) {
    if (!isPlainObject(m) || !isValidName(m.name) || !isPlainObject(m.data) || !isCount(m.version) || !isTime(m.ttlMs) || !isTime(m.expiresAt)) {
      throw bad('a member is malformed');
    }
    state.members.push({ name: m.name, data: m.data, version: m.version, ttlMs: m.ttlMs, expiresAt: m.expiresAt });
  }
  if (!isPlainObject(raw.docs)) throw bad('docs is not an object');
  for (const [key, d] of Object.entries(raw.docs)) {
    if (!isDocKey(key)) throw bad(`unknown document ${JSON.stringify(key)}`);
    if (!isPlainObject(d) || !isCount(d.version) || !('value' in d)) throw bad(`document ${key} is malformed`);
    state.docs[key] = { value: d.value, version: d.version };
  }
  return state;
}
