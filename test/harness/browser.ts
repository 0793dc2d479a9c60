/**
 * Real Chromium for UI tests: Debian's `/usr/bin/chromium` driven by `playwright-core` (no
 * browser download). The browser trusts exactly one extra CA, the cluster's, through a private
 * NSS database in a throwaway HOME (Chromium on Linux reads `~/.pki/nssdb`), so it verifies a
 * served certificate fully, names included, as a user's browser that imported the CA would.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import { missing } from './requirements.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a real-browser test cannot run here, or undefined. */
export function browserMissing(why: string): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `${why} needs ${CHROMIUM} (Debian's chromium; .ci/run installs it)`;
  return missing({ tools: ['certutil'], why });
}

export interface TrustingBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

/** Chromium that trusts `caPem` for TLS servers (and nothing beyond the system's roots). */
export async function launchTrusting(caPem: string, opts: { args?: string[] } = {}): Promise<TrustingBrowser> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-chromium-'));
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  const caFile = path.join(home, 'cluster-ca.crt');
  fs.writeFileSync(caFile, caPem);
  execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], { stdio: 'pipe' });
  // "C,," = a trusted CA for TLS servers only.
  execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-n', 'bulwark cluster CA', '-t', 'C,,', '-i', caFile], { stdio: 'pipe' });
  const launch: LaunchOptions = {
    executablePath: CHROMIUM,
    env: { ...process.env, HOME: home } as Record<string, string>,
    args: opts.args ?? [],
    timeout: 30_000,
  };
  const browser = await chromium.launch(launch);
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
