/**
 * The OS user PostgreSQL runs as. initdb and postgres refuse to run as root, so an agent running
 * as root runs them as an unprivileged service user (default `postgres`, created if missing);
 * an agent running as anyone else runs them as itself.
 *
 * The trap (FIELD-NOTES): every directory on the way to the binaries, the data dir and the
 * socket dir must be traversable (x bit) by that user, or initdb/postgres fail with EACCES — a
 * checkout under a 0700 home is the usual culprit. `assertTraversable` finds the first such
 * directory and says how to fix it; `ensureBinariesReachable` can instead copy the npm binaries
 * (60 MB, relocatable) under a state directory the user can reach.
 *
 * Note: child processes are spawned with uid/gid only (Node drops supplementary groups), so the
 * checks here use the user's primary group only — the same rights the server will have.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PostgresBinaries } from './binaries.js';
import { PgControlError } from './errors.js';

const execFileAsync = promisify(execFile);

export interface ServiceUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** True when the agent is root and must switch to uid/gid for PostgreSQL processes. */
  readonly switchUser: boolean;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The OS user name of this (agent) process. */
export function agentUserName(): string {
  return os.userInfo().username;
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const { stdout } = await execFileAsync('getent', ['passwd', name], { timeout: 10_000 });
    const f = stdout.trim().split(':');
    if (f.length < 4) return undefined;
    return { uid: Number(f[2]), gid: Number(f[3]) };
  } catch {
    return undefined;
  }
}

/**
 * Root: look the user up, create it as a system user when missing
 * (`useradd --system --user-group --no-create-home --shell /usr/sbin/nologin`).
 * Not root: the current user, whatever `name` says.
 */
export async function ensureServiceUser(name = 'postgres'): Promise<ServiceUser> {
  if (!isRoot()) {
    const me = os.userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid, switchUser: false };
  }
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    throw new PgControlError('PG_SERVICE_USER', `"${name}" is not a valid user name`);
  }
  let found = await lookupUser(name);
  if (!found) {
    try {
      await execFileAsync(
        'useradd',
        ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
        { timeout: 30_000 },
      );
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      throw new PgControlError('PG_SERVICE_USER', `cannot create the service user "${name}"`, [stderr.trim()], { cause: err });
    }
    found = await lookupUser(name);
    if (!found) throw new PgControlError('PG_SERVICE_USER', `useradd reported success but "${name}" cannot be found`);
  }
  if (found.uid === 0) throw new PgControlError('PG_SERVICE_USER', `the service user "${name}" has uid 0: PostgreSQL refuses to run as root`);
  return { name, uid: found.uid, gid: found.gid, switchUser: true };
}

/** Can `user` search (x) directory `st`? Owner bits, then primary group, then others. */
function canTraverse(st: fs.Stats, user: ServiceUser): boolean {
  if (user.uid === 0) return true;
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** The first directory from / down to `dir` (exclusive) that `user` cannot traverse, if any. */
export function firstUntraversable(dir: string, user: ServiceUser, opts: { includeSelf?: boolean } = {}): string | undefined {
  const abs = path.resolve(dir);
  const parts = abs.split(path.sep).filter(Boolean);
  const chain = ['/'];
  for (let i = 0; i < parts.length; i++) chain.push('/' + parts.slice(0, i + 1).join('/'));
  if (!opts.includeSelf) chain.pop();
  for (const d of chain) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return undefined; // does not exist yet: mkdir will create it 0755
    }
    if (!canTraverse(st, user)) return d;
  }
  return undefined;
}

export function assertTraversable(dir: string, user: ServiceUser, what: string, opts: { includeSelf?: boolean } = {}): void {
  const bad = firstUntraversable(dir, user, opts);
  if (bad === undefined) return;
  throw new PgControlError(
    what === 'binaries' ? 'PG_BINARIES_UNREACHABLE' : 'PG_DIR_UNREACHABLE',
    `the ${what} at ${dir} are not reachable by the service user "${user.name}": ${bad} is not traversable by it`,
    [
      `fix: \`chmod o+x ${bad}\`, or move the ${what} to a path the user can reach`,
      ...(what === 'binaries' ? ['or configure a binDir such as /usr/lib/postgresql/15/bin, or let the agent stage the binaries under its state directory'] : []),
    ],
  );
}

/**
 * mkdir -p `dir`, then chown it to `owner` and chmod it (default 0700, what PostgreSQL demands
 * of a data directory). Checks that the owner can reach it through its parents.
 */
export function prepareDir(dir: string, owner: ServiceUser, mode = 0o700): void {
  fs.mkdirSync(dir, { recursive: true });
  if (owner.switchUser) fs.chownSync(dir, owner.uid, owner.gid);
  fs.chmodSync(dir, mode);
  assertTraversable(dir, owner, 'directory');
}

/** chown a path we wrote (a no-op when not switching users). */
export function giveTo(p: string, owner: ServiceUser): void {
  if (owner.switchUser) fs.lchownSync(p, owner.uid, owner.gid);
}

export interface ReachableOptions {
  /**
   * When the binaries are not reachable and they are the npm ones, copy their `native/` folder
   * to `<stageDir>/postgresql-<version>/` (once; reused while complete) and use that.
   * Without it an unreachable binDir is an error naming the directory to fix.
   */
  readonly stageDir?: string;
}

/**
 * Make sure `user` can run the binaries. Decision: fail loudly by default with the directory and
 * the fix; copying 60 MB is opt-in (`stageDir`), because silently duplicating binaries hides a
 * packaging mistake and a system install never needs it.
 */
export function ensureBinariesReachable(bin: PostgresBinaries, user: ServiceUser, opts: ReachableOptions = {}): PostgresBinaries {
  const root = bin.source === 'npm' ? path.resolve(bin.binDir, '..') : bin.binDir;
  const bad = firstUntraversable(path.join(root, 'bin'), user, { includeSelf: true }) ??
    (bin.source === 'npm' ? firstUntraversable(path.join(root, 'lib'), user, { includeSelf: true }) : undefined);
  if (bad === undefined) return bin;
  if (bin.source !== 'npm' || !opts.stageDir) {
    assertTraversable(bin.binDir, user, 'binaries', { includeSelf: true });
    return bin;
  }
  const dest = path.join(path.resolve(opts.stageDir), `postgresql-${bin.version.full}`);
  const marker = path.join(dest, '.bulwark-staged');
  if (!fs.existsSync(marker)) {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.cpSync(root, dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    fs.chmodSync(dest, 0o755);
    fs.writeFileSync(marker, `${bin.version.full}\n`);
  }
  assertTraversable(path.join(dest, 'bin'), user, 'binaries', { includeSelf: true });
  return { ...bin, binDir: path.join(dest, 'bin'), libDir: path.join(dest, 'lib') };
}
