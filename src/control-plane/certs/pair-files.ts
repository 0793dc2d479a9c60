/**
 * A certificate and its key in two files beside the cluster CA: node, admin and edge pairs are
 * all kept this way, read back with the same checks and replaced the same way.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/files.js';
import type { IssuedCertificate } from './ca.js';

export interface PairFiles {
  readonly cert: string;
  readonly key: string;
}

/** A pair read back: its texts, the parsed certificate, and when two thirds of its life are over. */
export interface ChainedPair {
  readonly cert: string;
  readonly key: string;
  readonly x509: X509Certificate;
  readonly notAfter: number;
  readonly renewAt: number;
}

/** The pair at `files` when both exist, load, and the certificate chains to the CA; else why not. */
export function readChainedPair(files: PairFiles, caPem: string): ChainedPair | string {
  if (!fs.existsSync(files.cert)) return `${files.cert} does not exist`;
  if (!fs.existsSync(files.key)) return `${files.cert} has no key at ${files.key}`;
  try {
    const cert = fs.readFileSync(files.cert, 'utf8');
    const key = fs.readFileSync(files.key, 'utf8');
    const x509 = new X509Certificate(cert);
    // A certificate from another CA (the state folder was reset) does not chain to ours.
    if (!x509.verify(new X509Certificate(caPem).publicKey)) return `${files.cert} is not from the cluster CA`;
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    return { cert, key, x509, notAfter: to, renewAt: from + ((to - from) * 2) / 3 };
  } catch (err) {
    return `${files.cert} does not load: ${(err as Error).message}`;
  }
}

export function writePair(files: PairFiles, issued: IssuedCertificate): void {
  fs.mkdirSync(path.dirname(files.cert), { recursive: true, mode: 0o755 });
  // Each replaced atomically, key first: a reader meanwhile sees the old pair or the new one.
  writeFileAtomic(files.key, issued.keyPem, { mode: 0o600 });
  writeFileAtomic(files.cert, issued.certPem, { mode: 0o644 });
}
