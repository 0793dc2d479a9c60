/**
 * `tls: local`: the edge's certificate comes from the cluster CA, for the VIP, every lb's own
 * address, localhost and the configured names (edgeCertNames).
 *
 * Where the CA key is (or on the first machine, which creates the CA), each lb issues its own,
 * keeps it in its node folder and reissues it when two thirds of its 90 days have passed (checked
 * hourly), when the names change, or when the kept pair does not load. A host with the CA
 * certificate but not its key never issues: it serves a good certificate kept in its node folder
 * or the one `bulwark certs issue --edge` made (`pki/edge.crt|key`, copied here), and says which
 * files to copy (BWK_TLS_LOCAL) when there is none, or in the log when the one it serves ages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { nodesWithRole } from '../../config/find-node.js';
import type { ClusterSpec } from '../../config/types.js';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { BulwarkError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { certificateNames, type CertificateStore } from '../../data-plane/tls/index.js';
import { ClusterCa, type IssuedCertificate } from './ca.js';
import { caCertPath, caDirOf, caKeyPath, edgeCertPaths } from './paths.js';
import { readChainedPair, writePair, type PairFiles } from './pair-files.js';

const DAYS = 90;
const CHECK_MS = 3_600_000;
const ISSUE_EDGE = 'bulwark certs issue --edge';

/** The names on a `tls: local` certificate: the VIP, every lb's address, localhost, then tls.names. */
export function edgeCertNames(spec: Pick<ClusterSpec, 'edge' | 'nodes'>): string[] {
  return [...new Set([spec.edge.vip, ...nodesWithRole(spec, 'lb').map((n) => n.address), 'localhost', ...(spec.edge.tls?.names ?? [])])];
}

export interface LocalSourceOptions {
  readonly caDir: string;
  readonly cluster: string;
  /** Where this node keeps the certificate it issued itself. */
  readonly dir: string;
  readonly names: readonly string[];
  readonly store: CertificateStore;
  readonly clock: Clock;
  readonly log: Logger;
}

/** A kept pair that chains to the CA and is for exactly the wanted names. */
interface Kept {
  readonly cert: string;
  readonly key: string;
  readonly file: string;
  readonly serial: string;
  readonly notAfter: number;
  readonly renewAt: number;
}

export class LocalCertificateSource {
  private timer: TimerHandle | undefined;
  private ca: ClusterCa | undefined;

  constructor(private readonly o: LocalSourceOptions) {}

  /** Serve a certificate now; throws BWK_TLS_LOCAL when there is none and no CA key to issue one. */
  async start(): Promise<void> {
    await this.refresh();
    const tick = (): void => {
      this.refresh().catch((err: Error) => this.o.log.error({ err: err.message }, `edge certificate renewal failed (will retry in an hour): ${err.message}`));
      this.timer = this.o.clock.setTimeout(tick, CHECK_MS);
    };
    this.timer = this.o.clock.setTimeout(tick, CHECK_MS);
  }

  stop(): void {
    this.o.clock.clearTimeout(this.timer);
  }

  private async refresh(): Promise<void> {
    const { caDir, dir, names, clock, log } = this.o;
    const now = clock.now();
    const caPem = readIfThere(caCertPath(caDir));
    // No CA at all: this is the cluster's first machine, which creates it.
    const canIssue = caPem === undefined || fs.existsSync(caKeyPath(caDir));
    const own = { cert: path.join(dir, 'edge.crt'), key: path.join(dir, 'edge.key') };
    const shared = edgeCertPaths(caDir);
    const found = caPem === undefined ? [] : [own, shared].map((f) => inspectEdge(f, caPem, names, now));
    const kept = found.filter((k): k is Kept => typeof k !== 'string').sort((a, b) => b.notAfter - a.notAfter);
    // Without the CA key an ageing certificate is still better than none.
    for (const k of kept.filter((x) => !canIssue || now < x.renewAt)) {
      if (!this.serve(k)) continue;
      if (now >= k.renewAt) {
        log.error({ cert: k.file, notAfter: new Date(k.notAfter).toISOString() },
          `the edge certificate ${k.file} expires on ${new Date(k.notAfter).toISOString()} and this host cannot renew it (no CA key): ${howToCopy(caDir)}`);
      }
      return;
    }
    if (!canIssue) {
      const why = found.find((x): x is string => typeof x === 'string' && x.startsWith(shared.cert)) ?? `the certificate at ${shared.cert} does not load`;
      throw new BulwarkError('BWK_TLS_LOCAL',
        `edge.tls (source: local): no usable edge certificate: ${why}. This host has the cluster CA certificate but not its key (${caKeyPath(caDir)}), so it cannot issue one: ${howToCopy(caDir)}`);
    }
    await this.issue(own);
  }

  /** Put a kept pair in the store unless it is already there; false when the store refuses it. */
  private serve(k: Kept): boolean {
    if (this.o.store.served()[0]?.serial === k.serial) return true;
    try {
      this.o.store.set([{ certPem: k.cert, keyPem: k.key, source: 'cluster CA' }]);
    } catch (err) {
      this.o.log.warn({ cert: k.file, err: (err as Error).message }, `kept edge certificate ${k.file} does not load, not serving it: ${(err as Error).message}`);
      return false;
    }
    this.o.log.info({ cert: k.file, names: this.o.names, notAfter: new Date(k.notAfter).toISOString() },
      `serving the edge certificate ${k.file} (cluster CA), valid until ${new Date(k.notAfter).toISOString().slice(0, 10)}`);
    return true;
  }

  private async issue(files: { cert: string; key: string }): Promise<void> {
    const { caDir, cluster, names, clock, store, log } = this.o;
    this.ca ??= await ClusterCa.ensure(caDir, cluster, clock);
    const issued = await issueEdge(this.ca, names);
    writePair(files, issued);
    store.set([{ certPem: issued.certPem, keyPem: issued.keyPem, source: 'cluster CA' }]);
    log.info({ names, notAfter: issued.notAfter.toISOString() },
      `edge certificate issued by the cluster CA for ${names.join(', ')}, valid until ${issued.notAfter.toISOString().slice(0, 10)}`);
  }
}

/**
 * `bulwark certs issue --edge`: the edge certificate for every lb, in `pki/edge.crt|key`, kept
 * when it is still good (as for node certificates). Needs the CA key on this machine.
 */
export async function ensureEdgeCertificate(spec: Pick<ClusterSpec, 'stateDir' | 'cluster' | 'edge' | 'nodes'>, clock: Clock = systemClock): Promise<{ cert: string; key: string; certPem: string; kept: boolean }> {
  const caDir = caDirOf(spec);
  const files = edgeCertPaths(caDir);
  const names = edgeCertNames(spec);
  const ca = await ClusterCa.ensure(caDir, spec.cluster, clock);
  const k = inspectEdge(files, ca.certPem, names, clock.now());
  if (typeof k !== 'string' && clock.now() < k.renewAt) return { ...files, certPem: k.cert, kept: true };
  const issued = await issueEdge(ca, names);
  writePair(files, issued);
  return { ...files, certPem: issued.certPem, kept: false };
}

function issueEdge(ca: ClusterCa, names: readonly string[]): Promise<IssuedCertificate> {
  return ca.issue({ commonName: names[0] ?? 'bulwark edge', names, usage: 'server', days: DAYS });
}

function howToCopy(caDir: string): string {
  const f = edgeCertPaths(caDir);
  return `on the machine that holds the cluster CA run \`${ISSUE_EDGE}\` (--out DIR collects the files) and copy ${caCertPath(caDir)}, ${f.cert} and ${f.key} here`;
}

/** The pair at `files` when it chains to the CA, is for exactly `names` and has not expired; else why not. */
function inspectEdge(files: PairFiles, caPem: string, names: readonly string[], now: number): Kept | string {
  const pair = readChainedPair(files, caPem);
  if (typeof pair === 'string') return pair;
  const sans = certificateNames(pair.x509);
  if (sans.length !== names.length || !names.every((n) => sans.includes(n))) {
    return `${files.cert} is for ${sans.join(', ')}, not ${names.join(', ')} (the VIP, the lbs' addresses, localhost and tls.names)`;
  }
  if (now >= pair.notAfter) return `${files.cert} expired on ${new Date(pair.notAfter).toISOString()}`;
  return { cert: pair.cert, key: pair.key, file: files.cert, serial: pair.x509.serialNumber, notAfter: pair.notAfter, renewAt: pair.renewAt };
}

function readIfThere(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
