/**
 * Generated passwords, one file each (`<secretsDir>/<name>.password`, mode 0600, owned by the
 * agent), and the libpq passfile the walreceiver and pg_rewind read (owned by the service user,
 * 0600: libpq ignores a passfile readable by group or others).
 *
 * Passwords never go into primary_conninfo (it is printed to the server log on reload): the
 * conninfo names the passfile instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeOwnedFile } from './files.js';
import type { ServiceUser } from './os-user.js';
import { generatePassword, renderPassfile, type PassfileEntry } from './sql.js';

export const SECRET_NAMES = ['superuser', 'replication', 'rewind', 'app'] as const;
export type SecretName = (typeof SECRET_NAMES)[number];
export type ClusterSecrets = Readonly<Record<SecretName, string>>;

export function secretFile(secretsDir: string, name: SecretName): string {
  return path.join(secretsDir, `${name}.password`);
}

/** The agent's own identity: files it writes for itself stay its own. */
const AGENT: ServiceUser = { name: 'agent', uid: -1, gid: -1, switchUser: false };

function readSecret(secretsDir: string, name: SecretName): string | undefined {
  try {
    const v = fs.readFileSync(secretFile(secretsDir, name), 'utf8').split('\n')[0]?.trim();
    return v ? v : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function readSecrets(secretsDir: string): Partial<Record<SecretName, string>> {
  const out: Partial<Record<SecretName, string>> = {};
  for (const n of SECRET_NAMES) {
    const v = readSecret(secretsDir, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** Store secrets received from elsewhere (a replica gets the cluster's, it never invents them). */
export function writeSecrets(secretsDir: string, secrets: Partial<Record<SecretName, string>>): void {
  fs.mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(secretsDir, 0o700);
  for (const [n, v] of Object.entries(secrets)) {
    if (v === undefined) continue;
    if (/[\n\r]/.test(v) || v.length === 0) throw new Error(`secret ${n}: empty or multi-line`);
    writeOwnedFile(secretFile(secretsDir, n as SecretName), `${v}\n`, AGENT, 0o600);
  }
}

/** Read every secret, generating (and storing) the missing ones. Idempotent. */
export function ensureSecrets(secretsDir: string): ClusterSecrets {
  const have = readSecrets(secretsDir);
  const missing: Partial<Record<SecretName, string>> = {};
  for (const n of SECRET_NAMES) if (have[n] === undefined) missing[n] = generatePassword();
  if (Object.keys(missing).length > 0) writeSecrets(secretsDir, missing);
  return { ...have, ...missing } as ClusterSecrets;
}

/** Write a .pgpass-format file owned by the service user, mode 0600. */
export function writePassfile(file: string, entries: readonly PassfileEntry[], owner: ServiceUser): void {
  writeOwnedFile(file, renderPassfile(entries), owner, 0o600);
}
