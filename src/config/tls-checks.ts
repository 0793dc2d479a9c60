/**
 * Checks of the files `edge.tls` names, on the machine that runs them: certificate/key pairs of
 * `source: files` that exist, parse and belong together, and an ACME `account_key` and `ca_file`
 * that parse. `bulwark validate` runs them (loadClusterFile with `files: true`); plain loading
 * does not, because only lb hosts need the files (a web host reads the same cluster file).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { readFailure } from '../core/files.js';
import type { Issues } from './issues.js';
import type { ClusterSpec } from './types.js';

export function checkTlsFiles(spec: ClusterSpec, issues: Issues): void {
  const tls = spec.edge?.tls;
  if (!tls || !issues.given('edge.tls')) return;
  tls.certificates.forEach((pair, i) => {
    const p = `edge.tls.certificates[${i}]`;
    const cert = read(issues, `${p}.cert`, pair.cert, (t) => new X509Certificate(t), 'a PEM certificate');
    const key = read(issues, `${p}.key`, pair.key, (t) => createPrivateKey(t), 'a PEM private key');
    if (cert && key && !cert.checkPrivateKey(key)) issues.check(`${p}.key`, `${pair.key} is not the key of the certificate in ${pair.cert}`, [`${p}.key`, `${p}.cert`]);
  });
  const acme = tls.acme;
  if (acme?.accountKey !== undefined) read(issues, 'edge.tls.acme.account_key', acme.accountKey, (t) => createPrivateKey(t), 'a PEM private key');
  if (acme?.caFile !== undefined) read(issues, 'edge.tls.acme.ca_file', acme.caFile, (t) => new X509Certificate(t), 'a PEM certificate');
}

/** The parsed file, or undefined after reporting why it cannot be read or parsed. */
function read<T extends X509Certificate | KeyObject>(issues: Issues, path: string, file: string, parse: (text: string) => T, what: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    issues.check(path, `cannot read ${file} on this machine: ${readFailure(err)}`);
    return undefined;
  }
  try {
    return parse(text);
  } catch (err) {
    issues.check(path, `${file} is not ${what} (${(err as Error).message})`);
    return undefined;
  }
}
