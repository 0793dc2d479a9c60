/**
 * The certificates an edge serves, by name (SNI). A certificate source (the cluster CA, files,
 * ACME) puts pairs in; TLS listeners pick the context per handshake, so a replaced certificate is
 * served from the next handshake on, without a restart and without touching open connections.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import tls from 'node:tls';
import { INTERMEDIATE } from './settings.js';

export interface CertificatePair {
  /** PEM: the certificate, then its chain. */
  readonly certPem: string;
  readonly keyPem: string;
  /** Where it came from, for status and logs ("cluster CA", a file path, "ACME"). */
  readonly source: string;
}

export interface ServedCertificate {
  readonly names: readonly string[];
  readonly notAfter: Date;
  readonly source: string;
  /** The issuer's common name (or whole subject when it has none). */
  readonly issuer: string;
  /** Hex, as openssl prints it: tells two certificates for the same names apart. */
  readonly serial: string;
}

interface Entry {
  readonly pair: CertificatePair;
  readonly context: tls.SecureContext;
  readonly info: ServedCertificate;
}

export class CertificateStore {
  private entries: Entry[] = [];
  private readonly exact = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();

  /** Replace every certificate at once; throws (changing nothing) if a pair does not load. */
  set(pairs: readonly CertificatePair[]): void {
    if (pairs.length === 0) throw new Error('no certificate to serve');
    const entries = pairs.map((p) => {
      let context: tls.SecureContext;
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(p.certPem);
        if (!cert.checkPrivateKey(createPrivateKey(p.keyPem))) throw new Error('the key does not belong to the certificate');
        context = tls.createSecureContext({ ...INTERMEDIATE, cert: p.certPem, key: p.keyPem });
      } catch (err) {
        throw new Error(`${p.source}: ${(err as Error).message}`);
      }
      return { pair: p, context, info: { names: certificateNames(cert), notAfter: new Date(cert.validTo), source: p.source, issuer: issuerName(cert), serial: cert.serialNumber } };
    });
    this.entries = entries;
    this.exact.clear();
    // First pair wins for a name listed twice; wildcards are matched in contextFor.
    for (const e of [...entries].reverse()) for (const n of e.info.names) this.exact.set(n.toLowerCase(), e);
    for (const l of this.listeners) l();
  }

  /** The context for an SNI name: exact name, then a wildcard one level up, then the first pair. */
  contextFor(servername: string | undefined): tls.SecureContext | undefined {
    if (this.entries.length === 0) return undefined;
    if (servername) {
      const name = servername.toLowerCase();
      const hit = this.exact.get(name) ?? this.exact.get(`*.${name.slice(name.indexOf('.') + 1)}`);
      if (hit) return hit.context;
    }
    return this.entries[0]!.context;
  }

  served(): ServedCertificate[] {
    return this.entries.map((e) => e.info);
  }

  /** Options for a tls.Server that serves this store (SNI included) with the intermediate profile. */
  serverOptions(alpn: readonly string[]): tls.TlsOptions {
    return {
      ...INTERMEDIATE,
      ALPNProtocols: [...alpn],
      SNICallback: (name, cb) => cb(null, this.contextFor(name)),
    };
  }

  /** Called after every set() (listeners refresh the context used for clients without SNI). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first pair, for a server's own context: what clients that send no SNI (IP literals) get. */
  defaultPair(): CertificatePair | undefined {
    return this.entries[0]?.pair;
  }
}

/** The DNS names and IP addresses a certificate is for (its subjectAltName). */
export function certificateNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').filter(Boolean).map((x) => x.replace(/^(DNS|IP Address):/, ''));
}

function issuerName(cert: X509Certificate): string {
  return /^CN=(.*)$/m.exec(cert.issuer)?.[1] ?? cert.issuer.replace(/\n/g, ', ');
}
