/**
 * Mutual-TLS credentials for the agent APIs: every node has a certificate from the cluster CA
 * (CN = node name, OU = role, server and client use, its address and name as SANs), and the CLI
 * has an admin certificate (OU = admin, client use only). They live beside the CA in `pki/`:
 * `nodes/NAME.crt|key` and `admin.crt|key`.
 *
 * On the machine that holds the CA key (one machine: always; the first machine that finds no CA
 * at all creates it), a missing, foreign or ageing certificate is issued on the spot. Elsewhere
 * the files must have been copied there: the error says which ones and how to make them
 * (`bulwark certs issue`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROLES, type ClusterSpec, type NodeSpec, type Role } from '../../config/types.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { BulwarkError } from '../../core/errors.js';
import { certificateNames } from '../../data-plane/tls/index.js';
import { ClusterCa } from './ca.js';
import { caCertPath, caDirOf, caKeyPath } from './paths.js';
import { readChainedPair, writePair, type PairFiles } from './pair-files.js';

/** PEM texts: the CA to trust, and this party's own chain and key. */
export interface TlsCredentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Where they came from, for messages. */
  readonly certPath: string;
}

/** Who may call what: the OU of a verified client certificate. */
export type CallerRole = Role | 'admin';

const NODE_DAYS = 365;
const ADMIN_DAYS = 365;

export function nodeCertPaths(spec: Pick<ClusterSpec, 'stateDir' | 'cluster'>, name: string): { cert: string; key: string } {
  const dir = path.join(caDirOf(spec), 'nodes');
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

export function adminCertPaths(spec: Pick<ClusterSpec, 'stateDir' | 'cluster'>): { cert: string; key: string } {
  const dir = caDirOf(spec);
  return { cert: path.join(dir, 'admin.crt'), key: path.join(dir, 'admin.key') };
}

/** The credentials this node serves its agent API with and calls its peers with. */
export async function nodeCredentials(spec: Pick<ClusterSpec, 'stateDir' | 'cluster'>, node: Pick<NodeSpec, 'name' | 'role' | 'address'>, clock: Clock = systemClock): Promise<TlsCredentials> {
  return ensure(spec, nodeCertPaths(spec, node.name), clock, {
    commonName: node.name, role: node.role, names: [node.address, node.name], usage: 'both', days: NODE_DAYS,
  }, `node ${node.name}`, `bulwark certs issue --node ${node.name}`);
}

/** The credentials the CLI (and tests, and external tools) call agent APIs with. */
export async function adminCredentials(spec: Pick<ClusterSpec, 'stateDir' | 'cluster'>, clock: Clock = systemClock): Promise<TlsCredentials> {
  return ensure(spec, adminCertPaths(spec), clock, {
    commonName: 'bulwark admin', role: 'admin', names: [], usage: 'client', days: ADMIN_DAYS,
  }, 'the admin', 'bulwark certs issue --admin');
}

interface Wanted {
  readonly commonName: string;
  readonly role: CallerRole;
  readonly names: readonly string[];
  readonly usage: 'client' | 'both';
  readonly days: number;
}

async function ensure(spec: Pick<ClusterSpec, 'stateDir' | 'cluster'>, files: { cert: string; key: string }, clock: Clock, want: Wanted, who: string, howTo: string): Promise<TlsCredentials> {
  const caDir = caDirOf(spec);
  const caKeyHere = fs.existsSync(caKeyPath(caDir));
  const caPem = fs.existsSync(caCertPath(caDir)) ? fs.readFileSync(caCertPath(caDir), 'utf8') : undefined;
  const kept = caPem ? keptIfGood(files, caPem, want, clock.now()) : undefined;
  if (kept) return { ca: caPem!, ...kept, certPath: files.cert };
  // No CA at all: this is the first machine of the cluster, and it creates the CA (as `certs ca`
  // would). A CA certificate without its key means the CA lives elsewhere.
  if (caPem && !caKeyHere) {
    const why = !fs.existsSync(files.cert) ? `there is no certificate for ${who} at ${files.cert}`
        : `the certificate at ${files.cert} is expiring, not from the cluster CA, or not for ${who}`;
    throw new BulwarkError('BWK_CREDENTIALS_MISSING',
      `cannot authenticate to the agent APIs: ${why}. On the machine that holds the cluster CA run \`${howTo}\` and copy ${caCertPath(caDir)}, ${files.cert} and ${files.key} here.`);
  }
  const ca = await ClusterCa.ensure(caDir, spec.cluster, clock);
  const issued = await ca.issue(want);
  writePair(files, issued);
  return { ca: ca.certPem, cert: issued.certPem, key: issued.keyPem, certPath: files.cert };
}

/** The kept pair, when it is signed by this CA, names the wanted party and has a third of its life left. */
function keptIfGood(files: PairFiles, caPem: string, want: Wanted, now: number): { cert: string; key: string } | undefined {
  const pair = readChainedPair(files, caPem);
  if (typeof pair === 'string') return undefined;
  const subject = pair.x509.subject;
  if (!subject.includes(`CN=${want.commonName}`) || !subject.includes(`OU=${want.role}`)) return undefined;
  if (now > pair.renewAt) return undefined;
  const sans = new Set(certificateNames(pair.x509));
  if (!want.names.every((n) => sans.has(n))) return undefined;
  return { cert: pair.cert, key: pair.key };
}

/** The role a verified peer certificate speaks for (its OU), or undefined when it names none. */
export function callerRoleOf(subject: { OU?: string | string[] } | undefined): CallerRole | undefined {
  const ou = Array.isArray(subject?.OU) ? subject!.OU[0] : subject?.OU;
  return ou === 'admin' || ROLES.includes(ou as Role) ? (ou as CallerRole) : undefined;
}
