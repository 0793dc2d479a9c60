/**
 * The cluster CA: created once (ECDSA P-256, ten years), kept in the state folder (`pki/ca.crt`,
 * `pki/ca.key` readable by its owner only), and used to issue the edge's certificate for
 * `tls: local` and, later, every node's. Creation is atomic (written aside, then hard-linked into
 * place), so nodes starting together end up with the same CA.
 */
import type * as X509 from '@peculiar/x509';
import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import { sleep, systemClock, type Clock } from '../../core/clock.js';
import { certificateNames } from '../../data-plane/tls/index.js';
import { caCertPath, caKeyPath } from './paths.js';

/**
 * The X.509 library (and the reflect polyfill it needs) is loaded on first use: every CLI command
 * imports this module, few of them make certificates.
 */
let lib: Promise<typeof X509> | undefined;
function x509lib(): Promise<typeof X509> {
  lib ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  })();
  return lib;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface IssuedCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly notAfter: Date;
}

export interface IssueRequest {
  readonly commonName: string;
  /** The caller's role for mutual TLS (`OU=` in the subject): lb, web, db, monitor or admin. */
  readonly role?: string;
  /** DNS names and IP addresses for the subjectAltName. */
  readonly names: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
  readonly days: number;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function fromPem(text: string): ArrayBuffer {
  const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  return bytes.toString('hex');
}

export class ClusterCa {
  private constructor(
    readonly certPath: string,
    readonly certPem: string,
    private readonly x509: typeof X509,
    private readonly cert: X509.X509Certificate,
    private readonly key: CryptoKey,
    private readonly clock: Clock,
  ) {}

  /** Load the CA from `dir`, creating it first if there is none. Validity periods start at clock.now(). */
  static async ensure(dir: string, cluster: string, clock: Clock = systemClock): Promise<ClusterCa> {
    const x509 = await x509lib();
    const certPath = caCertPath(dir);
    const keyPath = caKeyPath(dir);
    if (!fs.existsSync(certPath)) await ClusterCa.create(x509, dir, cluster, clock);
    const certPem = fs.readFileSync(certPath, 'utf8');
    const key = await webcrypto.subtle.importKey('pkcs8', fromPem(fs.readFileSync(keyPath, 'utf8')), ALG, false, ['sign']);
    return new ClusterCa(certPath, certPem, x509, new x509.X509Certificate(certPem), key as CryptoKey, clock);
  }

  private static async create(x509: typeof X509, dir: string, cluster: string, clock: Clock): Promise<void> {
    const now = clock.now();
    const certPath = caCertPath(dir);
    const keyPath = caKeyPath(dir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(), name: `CN=Bulwark cluster CA (${cluster})`, keys, signingAlgorithm: ALG,
      notBefore: new Date(now - DAY), notAfter: new Date(now + 3650 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    // Key first, then the certificate: a certificate in place means its key is too.
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const keyTmp = `${keyPath}.${tag}`;
    const certTmp = `${certPath}.${tag}`;
    fs.writeFileSync(keyTmp, pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
    fs.writeFileSync(certTmp, cert.toString('pem') + '\n', { mode: 0o644 });
    try {
      fs.linkSync(keyTmp, keyPath);
      fs.linkSync(certTmp, certPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another node created it first; wait until its certificate is in place too.
      for (let i = 0; i < 100 && !fs.existsSync(certPath); i++) await sleep(clock, 20);
    } finally {
      fs.rmSync(keyTmp, { force: true });
      fs.rmSync(certTmp, { force: true });
    }
  }

  notAfter(): Date {
    return this.cert.notAfter;
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const x509 = this.x509;
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = this.clock.now();
    const notAfter = new Date(now + req.days * DAY);
    const usages = req.usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth]
      : req.usage === 'client' ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(), subject: req.role ? `CN=${req.commonName}, OU=${req.role}` : `CN=${req.commonName}`, issuer: this.cert.subject, publicKey: keys.publicKey,
      signingKey: this.key, signingAlgorithm: ALG, notBefore: new Date(now - 60_000), notAfter,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages),
        new x509.SubjectAlternativeNameExtension(req.names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    return { certPem: cert.toString('pem') + '\n' + this.certPem, keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), notAfter };
  }
}

/** The names and expiry of a PEM certificate (the first one of a chain). */
export function describeCertificate(certPem: string): { subject: string; names: string[]; notAfter: Date } {
  const c = new X509Certificate(certPem);
  return { subject: c.subject, names: certificateNames(c), notAfter: new Date(c.validTo) };
}
