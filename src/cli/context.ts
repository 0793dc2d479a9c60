/** Shared CLI plumbing: loading the cluster file named by -c, and printing. */
import { defaultConfigPath, loadClusterFile, type LoadOptions } from '../config/index.js';
import type { ClusterSpec } from '../config/types.js';
import type { Parsed } from './verb.js';

export function configPathOf(parsed: Parsed): string {
  const c = parsed.values['config'];
  return typeof c === 'string' ? c : defaultConfigPath(process.cwd());
}

/** `files`: also check the files the cluster file names (edge.tls), where every node runs here. */
export function loadSpec(parsed: Parsed, o: LoadOptions = {}): ClusterSpec {
  return loadClusterFile(configPathOf(parsed), o);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
