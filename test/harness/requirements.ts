/**
 * Tests that need root or system tools: why they cannot run here (or undefined when they can).
 * Outside CI they skip, saying why; in CI (CI=true) nothing may be skipped, so a missing
 * requirement fails the file at once.
 */
import { execFileSync } from 'node:child_process';

export function missing(opts: { root?: boolean; tools?: readonly string[]; why: string }): string | undefined {
  if (opts.root && process.getuid?.() !== 0) return `${opts.why} needs root (CI runs it as root)`;
  for (const tool of opts.tools ?? []) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${opts.why} needs \`${tool}\` (.ci/run installs it)`;
    }
  }
  return undefined;
}

/** The skip reason to hand to describe()/it(), announced; throws in CI. */
export function skipUnlessCi(reason: string | undefined, label: string): string | undefined {
  if (reason === undefined) return undefined;
  if (process.env['CI'] === 'true') throw new Error(`in CI nothing may be skipped: ${reason}`);
  console.log(`# SKIPPED ${label}: ${reason}`);
  return reason;
}
