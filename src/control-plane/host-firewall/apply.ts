/**
 * Applying a ruleset on this host, with a way back: the current `inet bulwark` table is saved
 * first, the new script is loaded in one `nft -f` transaction, and unless the caller confirms in
 * time the saved table is put back (or removed, if there was none). A rule that cuts off the
 * operator's own SSH session therefore undoes itself.
 */
import { execFile } from 'node:child_process';
import { TABLE } from './ruleset.js';

function nft(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', [...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`nft ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
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

/** Put back what currentTable() returned before an apply. */
export async function restoreTable(saved: string | undefined): Promise<void> {
  const reset = `table inet ${TABLE}\ndelete table inet ${TABLE}\n`;
  await nft(['-f', '-'], saved === undefined ? reset : reset + saved);
}
