/** Cluster file → ClusterSpec: read, parse with positions, schema + defaults, cross-checks, freeze. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulwarkError } from '../core/errors.js';
import { crossCheck } from './cross-checks.js';
import { deepFreeze } from './freeze.js';
import { Issues } from './issues.js';
import { readCluster } from './schema.js';
import { checkTlsFiles } from './tls-checks.js';
import type { ClusterSpec } from './types.js';
import { parseYamlWithPositions } from './yaml-positions.js';

export interface LoadOptions {
  /** Also check that the files the cluster file names (edge.tls) exist and load on this machine. */
  readonly files?: boolean;
}

/**
 * Parses cluster-file text. `sourcePath` names the file in messages (as given) and anchors
 * relative paths (state_dir, web.app.cwd) to its folder; `spec.sourcePath` is its absolute form.
 */
export function parseClusterText(text: string, sourcePath: string, o: LoadOptions = {}): ClusterSpec {
  const root = parseYamlWithPositions(text, sourcePath);
  const issues = new Issues(sourcePath);
  const spec = readCluster(root, resolve(sourcePath), issues);
  if (spec) crossCheck(spec, issues);
  if (spec && o.files) checkTlsFiles(spec, issues);
  issues.throwIfAny();
  return deepFreeze(spec!);
}

/** Reads and parses a cluster file (relative paths resolve against the current directory). */
export function loadClusterFile(path: string, o: LoadOptions = {}): ClusterSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? String(err)})`;
    throw new BulwarkError('BWK_CONFIG_NOT_FOUND', `cluster file ${path} ${why}`, [
      `looked for ${resolve(path)}`,
      'pass another file with -c FILE, or create bulwark.yaml (see examples/local.yaml)',
    ], { cause: err });
  }
  return parseClusterText(text, path, o);
}

/** The repository root, from dist/src/config/ (three levels up). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** `bulwark.yaml` in cwd when present, else the repository's examples/local.yaml when present, else `bulwark.yaml`. */
export function defaultConfigPath(cwd: string): string {
  const own = resolve(cwd, 'bulwark.yaml');
  if (existsSync(own)) return own;
  const example = resolve(REPO_ROOT, 'examples', 'local.yaml');
  return existsSync(example) ? example : own;
}
