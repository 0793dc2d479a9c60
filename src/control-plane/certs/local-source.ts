/**
 * `tls: local`: the edge's certificate comes from the cluster CA, for the VIP, every lb's own
 * address, localhost and the configured names. It is kept in the node's folder and reissued when
 * two thirds of its 90 days have passed (checked hourly) or when the names change.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { CertificateStore } from '../../data-plane/tls/index.js';
import { ClusterCa, describeCertificate } from './ca.js';

const DAYS = 90;
const CHECK_MS = 3_600_000;

export interface LocalSourceOptions {
  readonly caDir: string;
  readonly cluster: string;
  /** Where this node keeps its issued certificate. */
  readonly dir: string;
  readonly names: readonly string[];
  readonly store: CertificateStore;
  readonly clock: Clock;
  readonly log: Logger;
}

export class LocalCertificateSource {
  private timer: TimerHandle | undefined;
  private ca: ClusterCa | undefined;

  constructor(private readonly o: LocalSourceOptions) {}

  async start(): Promise<void> {
    this.ca = await ClusterCa.ensure(this.o.caDir, this.o.cluster, this.o.clock);
    await this.refresh();
    const tick = (): void => {
      this.refresh().catch((err: Error) => this.o.log.error({ err: err.message }, `certificate renewal failed (will retry): ${err.message}`));
      this.timer = this.o.clock.setTimeout(tick, CHECK_MS);
    };
    this.timer = this.o.clock.setTimeout(tick, CHECK_MS);
  }

  stop(): void {
    this.o.clock.clearTimeout(this.timer);
  }

  /** Serve the kept certificate if it is still good for our names, else issue a new one. */
  private async refresh(): Promise<void> {
    const certPath = path.join(this.o.dir, 'edge.crt');
    const keyPath = path.join(this.o.dir, 'edge.key');
    const kept = this.kept(certPath, keyPath);
    if (kept) {
      if (this.o.store.served().length === 0) this.o.store.set([{ certPem: kept.cert, keyPem: kept.key, source: 'cluster CA' }]);
      return;
    }
    const issued = await this.ca!.issue({ commonName: this.o.names[0] ?? 'bulwark edge', names: this.o.names, usage: 'server', days: DAYS });
    fs.writeFileSync(keyPath, issued.keyPem, { mode: 0o600 });
    fs.writeFileSync(certPath, issued.certPem);
    this.o.store.set([{ certPem: issued.certPem, keyPem: issued.keyPem, source: 'cluster CA' }]);
    this.o.log.info({ names: this.o.names, notAfter: issued.notAfter.toISOString() },
      `edge certificate issued by the cluster CA for ${this.o.names.join(', ')}, valid until ${issued.notAfter.toISOString().slice(0, 10)}`);
  }

  private kept(certPath: string, keyPath: string): { cert: string; key: string } | undefined {
    if (!fs.existsSync(certPath) || !fs.existsSync(keyPath)) return undefined;
    const cert = fs.readFileSync(certPath, 'utf8');
    const info = describeCertificate(cert);
    const lifetime = DAYS * 86_400_000;
    const renewAt = info.notAfter.getTime() - lifetime / 3;
    const sameNames = info.names.length === this.o.names.length && this.o.names.every((n) => info.names.includes(n));
    // A certificate from another CA (the state folder was reset) does not chain to ours.
    const fromOurCa = cert.includes(this.ca!.certPem.trim());
    if (!sameNames || !fromOurCa || this.o.clock.now() >= renewAt) return undefined;
    return { cert, key: fs.readFileSync(keyPath, 'utf8') };
  }
}
