/** Run the real `bulwark` CLI as a child process (what a user types), and a test cluster file. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(REPO, 'bin/bulwark.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function bulwark(args: readonly string[], opts: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: opts.timeoutMs ?? 90_000, cwd: opts.cwd ?? REPO, env: { ...process.env, NO_COLOR: '1', ...opts.env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
  });
}

/** A temp folder holding `cluster.yaml` (the given text) and its state folder. */
export function tempCluster(yaml: string): { dir: string; file: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-test-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as its own user and must reach the state folder
  const file = path.join(dir, 'cluster.yaml');
  fs.writeFileSync(file, yaml);
  return { dir, file, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The `web.app` block for test clusters: the demo app, by absolute path, on `port`. */
export function demoAppYaml(port: number, indent = '  '): string {
  const cmd = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(REPO, 'examples/demo-app/server.js'))}]`;
  return `${indent}app:\n${indent}  command: ${cmd}\n${indent}  port: ${port}\n${indent}  health_path: /healthz\n${indent}  restart_backoff: { initial: 200ms, max: 2s }\n`;
}
