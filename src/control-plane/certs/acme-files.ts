/**
 * What an lb keeps of ACME in its folder (`acme/`): the account key (created once, 0600), and the
 * last certificate with its key and the directory it came from, so a restart serves it at once.
 * Files are written aside and renamed, so a crash leaves the old pair or the new one.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/files.js';
import { certificateNames } from '../../data-plane/tls/index.js';
import type { HeldCertificate } from './acme-schedule.js';

export interface AcmeCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly directory: string;
}

/** The names, lifetime and directory of a certificate; throws when it does not parse or its key does not match. */
export function inspect(c: AcmeCertificate): HeldCertificate {
  const x = new X509Certificate(c.certPem);
  if (!x.checkPrivateKey(createPrivateKey(c.keyPem))) throw new Error('the key does not belong to the certificate');
  return { names: certificateNames(x), notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), directory: c.directory };
}

export class AcmeFiles {
  readonly dir: string;
  constructor(nodeDir: string) {
    this.dir = path.join(nodeDir, 'acme');
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** The account key: the configured file, else ours (created on first use). `created` says which happened. */
  accountKey(configured: string | undefined): { pem: string; path: string; created: boolean } {
    if (configured !== undefined) {
      try {
        return { pem: fs.readFileSync(configured, 'utf8'), path: configured, created: false };
      } catch (err) {
        throw new Error(`edge.tls.acme.account_key: cannot read ${configured}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const file = this.file('account.key');
    if (fs.existsSync(file)) return { pem: fs.readFileSync(file, 'utf8'), path: file, created: false };
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.write('account.key', pem, 0o600);
    return { pem, path: file, created: true };
  }

  /** The kept certificate, when there is one that parses (a broken one is as good as none). */
  loadCertificate(): AcmeCertificate | undefined {
    try {
      const meta = JSON.parse(fs.readFileSync(this.file('certificate.json'), 'utf8')) as { directory?: unknown };
      const c = { certPem: fs.readFileSync(this.file('certificate.pem'), 'utf8'), keyPem: fs.readFileSync(this.file('certificate.key'), 'utf8'), directory: String(meta.directory) };
      inspect(c);
      return c;
    } catch {
      return undefined;
    }
  }

  saveCertificate(c: AcmeCertificate): void {
    // Key before certificate, metadata last: the certificate is read only with a matching key.
    this.write('certificate.key', c.keyPem, 0o600);
    this.write('certificate.pem', c.certPem, 0o644);
    this.write('certificate.json', JSON.stringify({ directory: c.directory }) + '\n', 0o644);
  }

  private write(name: string, text: string, mode: number): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(name), text, { mode });
  }
}
