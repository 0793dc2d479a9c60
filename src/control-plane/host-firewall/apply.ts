/**
 * Applying a ruleset on this host, with a way back: the current `inet bulwark` table is saved
 * first, the new script is loaded in one `nft -f` transaction, and unless the caller confirms in
 * time the saved table is put back (or removed, if there was none). A rule that cuts off the
 * operator's own SSH session therefore undoes itself.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TABLE } from './ruleset.js';

function nft(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', [...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && (err as { code?: unknown }).code === 'ENOENT') reject(new Error('nft is not installed (or not on PATH): install nftables'));
      else if (err) reject(new Error(`nft ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    // nft may exit before reading its script (refused, missing): its exit status says so, and a
    // broken pipe on its stdin must not become an unhandled error that takes the agent down.
    child.stdin?.on('error', () => {});
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The table as it is now (a script that recreates it), or undefined when there is none. */
export async function currentTable(): Promise<string | undefined> {
  try {
    return await nft(['list', 'table', 'inet', TABLE]);
  } catch (err) {
    if (/No such file or directory|does not exist/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** Check a script without applying it (`nft -c`). */
export async function checkRuleset(script: string): Promise<void> {
  await nft(['-c', '-f', '-'], script);
}

export async function loadRuleset(script: string): Promise<void> {
  await nft(['-f', '-'], script);
}

/** The script that puts back what currentTable() returned (declaring the table first makes the delete safe when it is gone). */
function restoreScript(saved: string | undefined): string {
  const reset = `table inet ${TABLE}\ndelete table inet ${TABLE}\n`;
  return saved === undefined ? reset : reset + saved;
}

/** Put back what currentTable() returned before an apply. */
export async function restoreTable(saved: string | undefined): Promise<void> {
  await nft(['-f', '-'], restoreScript(saved));
}

/**
 * A rollback that does not depend on the process that applied the rules: a detached shell (own
 * session, so it outlives a SIGKILLed or hung-up CLI) sleeps, then loads the restore script. The
 * CLI disarms it once the operator confirms, and otherwise restores the table itself first; the
 * guard is only the backstop for a CLI that died without doing either.
 */
export class RollbackGuard {
  private constructor(private readonly pid: number, private readonly dir: string) {}

  static arm(saved: string | undefined, afterMs: number): RollbackGuard {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-rollback-'));
    const file = path.join(dir, 'restore.nft');
    fs.writeFileSync(file, restoreScript(saved), { mode: 0o600 });
    // Whole seconds: `sleep` with a fraction is not POSIX.
    const seconds = String(Math.max(1, Math.ceil(afterMs / 1000)));
    const child = spawn('sh', ['-c', 'sleep "$1" && nft -f "$2"; rm -rf "$3"', 'bulwark-rollback', seconds, file, dir],
      { detached: true, stdio: 'ignore' });
    if (child.pid === undefined) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error('could not start the rollback guard (sh)');
    }
    child.unref();
    return new RollbackGuard(child.pid, dir);
  }

  /**
   * Stop the guard before it rolls back. False when it is already gone: it may have restored the
   * table already, so the caller must not report the new rules as kept.
   */
  disarm(): boolean {
    let alive = true;
    try {
      // Its whole process group (the shell and its sleep): it leads a session of its own.
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      alive = false;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return alive;
  }
}
