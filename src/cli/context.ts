/** Shared CLI plumbing: loading the cluster file named by -c, and printing. */
import { defaultConfigPath, loadClusterFile } from '../config/index.js';
import type { ClusterSpec } from '../config/types.js';
import type { Parsed } from './verb.js';

export function configPathOf(parsed: Parsed): string {
  const c = parsed.values['config'];
  return typeof c === 'string' ? c : defaultConfigPath(process.cwd());
}

export function loadSpec(parsed: Parsed): ClusterSpec {
  return loadClusterFile(configPathOf(parsed));
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
