/**
 * TLS for a member: the server side (ssl = on with the node's certificate, so every TCP client can
 * verify it against the cluster CA) and the client side of the connections members open to each
 * other (walreceiver, BASE_BACKUP clone, pg_rewind and its CHECKPOINT), which verify the primary's
 * certificate against the cluster CA and its address (verify-full) and present the member's own
 * certificate (pg_hba asks for one on replication and rewind: `clientcert=verify-ca`).
 *
 * The PEM texts are copied into a folder of the member's own (`<root>/tls/`, service user, 0700,
 * files 0600): PostgreSQL refuses a key other users can read, and libpq (walreceiver, pg_rewind:
 * both run as the service user) refuses a client key with group or other bits. The folder is
 * outside the data directory on purpose: BASE_BACKUP and pg_rewind copy the data directory from
 * another member, and must neither carry that member's key here nor replace ours.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { Settings } from './conf.js';
import { writeOwnedFile } from './files.js';
import { prepareDir, type ServiceUser } from './os-user.js';

/** PEM texts: the CA to trust, this member's certificate and its key. */
export interface TlsPem {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Where a member keeps its TLS copies and what it holds. */
export interface MemberTls {
  readonly dir: string;
  readonly pem: TlsPem;
}

/** The files PostgreSQL and libpq read (absolute paths). */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

function tlsFilesIn(dir: string): TlsFiles {
  const d = path.resolve(dir);
  return { ca: path.join(d, 'ca.crt'), cert: path.join(d, 'member.crt'), key: path.join(d, 'member.key') };
}

/** Write (or refresh) the copies, owned by the service user, 0600. Returns their paths. */
export function writeMemberTls(tls: MemberTls, owner: ServiceUser): TlsFiles {
  prepareDir(tls.dir, owner, 0o700);
  const files = tlsFilesIn(tls.dir);
  writeOwnedFile(files.ca, tls.pem.ca, owner, 0o600);
  writeOwnedFile(files.cert, tls.pem.cert, owner, 0o600);
  writeOwnedFile(files.key, tls.pem.key, owner, 0o600);
  return files;
}

/**
 * Server settings. ssl_ca_file makes the server ask clients for a certificate (optional except on
 * the pg_hba rows that say clientcert); TLS 1.0/1.1 are refused like everywhere else in Bulwark.
 */
export function serverTlsSettings(files: TlsFiles): Settings {
  return {
    ssl: true,
    ssl_cert_file: files.cert,
    ssl_key_file: files.key,
    ssl_ca_file: files.ca,
    ssl_min_protocol_version: 'TLSv1.2',
  };
}

/** libpq parameters of a member's outgoing connection: verify-full against the CA, our certificate. */
export function clientTlsParams(files: TlsFiles): Record<string, string> {
  return { sslmode: 'verify-full', sslrootcert: files.ca, sslcert: files.cert, sslkey: files.key };
}

/**
 * The same for node-postgres. It checks the server's certificate against the host it connects to
 * (an IP address: the certificate's IP SAN), which is libpq's verify-full.
 */
export function clientTlsOptions(files: TlsFiles): ConnectionOptions {
  return {
    ca: fs.readFileSync(files.ca, 'utf8'),
    cert: fs.readFileSync(files.cert, 'utf8'),
    key: fs.readFileSync(files.key, 'utf8'),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}
