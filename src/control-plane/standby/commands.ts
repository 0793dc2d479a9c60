/** Running the few system commands the standby needs (ip, arping), with errors that say what failed. */
import { execFile } from 'node:child_process';

export type RunCommand = (file: string, args: readonly string[]) => Promise<string>;

export const runCommand: RunCommand = (file, args) => new Promise((resolve, reject) => {
  execFile(file, [...args], { timeout: 5000 }, (err, stdout, stderr) => {
    if (err) reject(new Error(`${file} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
    else resolve(stdout);
  });
});
