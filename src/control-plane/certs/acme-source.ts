/**
 * `tls: acme`: the edge's certificate comes from an ACME directory (Let's Encrypt by default),
 * proven with HTTP-01 challenges that the edge answers on its plain-HTTP port.
 *
 * Every lb keeps the certificate in its folder and serves it at once after a restart. Only the lb
 * holding the VIP orders and renews (the ACME server validates through the VIP); it hands the
 * challenge tokens to its peers before asking for validation, and the new certificate after
 * issuance, so whichever lb holds the VIP next already serves it. An lb starting without a good
 * certificate asks its peers first. Until the first certificate exists, the cluster CA issues a
 * stand-in so HTTPS handshakes work (with a certificate browsers do not trust).
 */
import fs from 'node:fs';
import type { AcmeSpec } from '../../config/types.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import type { CertificateStore, ChallengeResponder } from '../../data-plane/tls/index.js';
import { AcmeFiles, inspect, type AcmeCertificate } from './acme-files.js';
import { orderCertificate } from './acme-order.js';
import type { AcmePeers } from './acme-peers.js';
import { AcmeSchedule, renewalTime, shortfall, type HeldCertificate, type ScheduleStatus } from './acme-schedule.js';
import { ClusterCa } from './ca.js';

const SOURCE = 'ACME';
const STAND_IN_DAYS = 7;
/** A stand-in is replaced when two thirds of its life have passed; a failed one is retried hourly. */
const STAND_IN_RENEW_MS = (STAND_IN_DAYS * 86_400_000 * 2) / 3;
const STAND_IN_RETRY_MS = 3_600_000;

export interface AcmeCounters {
  issued(kind: 'issue' | 'renew'): void;
  failed(kind: 'issue' | 'renew'): void;
}

export interface AcmeSourceOptions {
  readonly spec: AcmeSpec;
  /** The lb's folder: `acme/` in it keeps the account key and the certificate. */
  readonly dir: string;
  /** For the stand-in certificate until the first one is issued. */
  readonly caDir: string;
  readonly cluster: string;
  readonly store: CertificateStore;
  readonly challenges: ChallengeResponder;
  readonly peers: AcmePeers;
  /** True while this lb holds the VIP (and so may order). */
  readonly holdsVip: () => boolean;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters?: AcmeCounters;
}

export interface AcmeStatus extends ScheduleStatus {
  readonly directory: string;
  readonly account: string | null;
  readonly accountKey: string;
  readonly certificate: { names: readonly string[]; notAfter: string; renewAt: string } | null;
}

export class AcmeCertificateSource {
  private readonly files: AcmeFiles;
  private readonly schedule: AcmeSchedule;
  private current: { cert: AcmeCertificate; held: HeldCertificate } | undefined;
  private accountKey: { pem: string; path: string } | undefined;
  private caPem: string | undefined;
  private accountUrl: string | null = null;
  private standInTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly o: AcmeSourceOptions) {
    this.files = new AcmeFiles(o.dir);
    const { names, directory, renewAt } = o.spec;
    this.schedule = new AcmeSchedule({ names, directory, renewAt }, o.clock, {
      view: () => ({ held: this.current?.held, active: o.holdsVip() }),
      order: (kind, why) => this.order(kind, why),
      pull: () => this.pull(),
      failed: (kind, err, retryInMs, failures) => {
        o.counters?.failed(kind);
        o.log.error({ err: err.message, failures, retryInMs }, `ACME ${kind === 'renew' ? 'renewal' : 'issuance'} failed (attempt ${failures}), retrying in ${Math.round(retryInMs / 1000)}s: ${err.message}`);
      },
    });
  }

  /** Fill the store (kept certificate, a peer's, or a stand-in); throws on a bad account_key or ca_file. */
  async start(): Promise<void> {
    const { spec, log } = this.o;
    if (spec.caFile !== undefined) {
      try {
        this.caPem = fs.readFileSync(spec.caFile, 'utf8');
      } catch (err) {
        throw new BulwarkError('BWK_TLS_ACME', `edge.tls.acme.ca_file: cannot read ${spec.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    try {
      const key = this.files.accountKey(spec.accountKey);
      this.accountKey = key;
      log.info({ accountKey: key.path }, key.created ? `ACME account key created at ${key.path}` : `ACME account key kept at ${key.path}`);
    } catch (err) {
      throw new BulwarkError('BWK_TLS_ACME', (err as Error).message, [], { cause: err });
    }
    const kept = this.files.loadCertificate();
    if (kept && this.adopt(kept, 'kept in this lb\'s folder', false)) return;
    await this.pull();
    if (this.current) return;
    await this.standIn();
  }

  /** Begin ordering/renewing (once the edge listens: the ACME server will call it). */
  run(): void {
    this.schedule.start();
  }

  stop(): void {
    this.schedule.stop();
    this.stopped = true;
    this.o.clock.clearTimeout(this.standInTimer);
  }

  status(): AcmeStatus {
    const c = this.current;
    return {
      directory: this.o.spec.directory, account: this.accountUrl, accountKey: this.accountKey?.path ?? '',
      certificate: c ? { names: c.held.names, notAfter: new Date(c.held.notAfter).toISOString(), renewAt: new Date(renewalTime(c.held, this.o.spec.renewAt)).toISOString() } : null,
      ...this.schedule.status(),
    };
  }

  /** What a peer asking for our certificate gets. */
  certificate(): AcmeCertificate | undefined {
    return this.current?.cert;
  }

  /** A certificate from a peer: taken when it is good for our names and newer than ours; else why not. */
  offer(cert: AcmeCertificate, from: string): { taken: boolean; why: string } {
    try {
      const held = inspect(cert);
      const problem = shortfall(held, { ...this.o.spec, now: this.o.clock.now() });
      if (problem !== undefined && !problem.startsWith('renewal was due')) return { taken: false, why: problem };
      if (this.current && this.current.held.notAfter >= held.notAfter && shortfall(this.current.held, { ...this.o.spec, now: this.o.clock.now() }) === undefined) {
        return { taken: false, why: `already serving one valid until ${new Date(this.current.held.notAfter).toISOString()}` };
      }
      this.adopt(cert, `from ${from}`, true);
      this.schedule.poke();
      return { taken: true, why: 'serving it' };
    } catch (err) {
      return { taken: false, why: (err as Error).message };
    }
  }

  /** Serve a certificate (and keep it on disk when it is new here); false when it will not do at all. */
  private adopt(cert: AcmeCertificate, from: string, save: boolean): boolean {
    let held: HeldCertificate;
    try {
      held = inspect(cert);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, `ACME certificate ${from} does not load: ${(err as Error).message}`);
      return false;
    }
    if (held.notAfter <= this.o.clock.now()) return false;
    this.o.store.set([{ certPem: cert.certPem, keyPem: cert.keyPem, source: SOURCE }]);
    if (save) this.files.saveCertificate(cert);
    this.current = { cert, held };
    const lacking = shortfall(held, { ...this.o.spec, now: this.o.clock.now() });
    this.o.log.info({ names: held.names, notAfter: new Date(held.notAfter).toISOString(), from },
      `ACME certificate for ${held.names.join(', ')} ${from}, valid until ${new Date(held.notAfter).toISOString()}${lacking ? ` (${lacking}: a new one will be ordered)` : ''}`);
    return true;
  }

  private async pull(): Promise<void> {
    if (this.o.peers.count === 0) return;
    const now = this.o.clock.now();
    const offers = (await this.o.peers.pull()).flatMap((p) => {
      try {
        const held = inspect(p.certificate);
        const problem = shortfall(held, { ...this.o.spec, now });
        return problem === undefined || problem.startsWith('renewal was due') ? [{ ...p, held }] : [];
      } catch {
        return [];
      }
    }).sort((a, b) => b.held.notAfter - a.held.notAfter);
    const best = offers[0];
    if (best && (!this.current || best.held.notAfter > this.current.held.notAfter)) this.adopt(best.certificate, `from peer ${best.from}`, true);
  }

  /** A certificate from the cluster CA while ACME has none, replaced before it expires for as long as that lasts. */
  private async standIn(): Promise<void> {
    const { log, spec, clock } = this.o;
    if (this.current || this.stopped) return;
    let next = STAND_IN_RETRY_MS;
    try {
      const ca = await ClusterCa.ensure(this.o.caDir, this.o.cluster, clock);
      const issued = await ca.issue({ commonName: spec.names[0]!, names: spec.names, usage: 'server', days: STAND_IN_DAYS });
      // An ACME certificate may have arrived while this one was being made.
      if (this.current || this.stopped) return;
      this.o.store.set([{ certPem: issued.certPem, keyPem: issued.keyPem, source: 'cluster CA (until ACME issues)' }]);
      log.info({ names: spec.names, notAfter: issued.notAfter.toISOString() },
        `no ACME certificate yet: serving a stand-in from the cluster CA for ${spec.names.join(', ')}, valid until ${issued.notAfter.toISOString()}, until the first one is issued`);
      next = STAND_IN_RENEW_MS;
    } catch (err) {
      log.warn({ err: (err as Error).message }, `no ACME certificate yet and no new stand-in (${(err as Error).message}): ${this.o.store.served().length > 0 ? 'the previous stand-in stays until it expires' : 'HTTPS handshakes fail until the first one is issued'}; trying again in an hour`);
    }
    this.o.clock.clearTimeout(this.standInTimer);
    this.standInTimer = this.o.clock.setTimeout(() => void this.standIn(), next);
  }

  private async order(kind: 'issue' | 'renew', why: string): Promise<void> {
    const { spec, log, peers, challenges } = this.o;
    log.info({ kind, names: spec.names, directory: spec.directory }, `ACME ${kind === 'renew' ? 'renewal' : 'issuance'} for ${spec.names.join(', ')} from ${spec.directory}: ${why}`);
    const result = await orderCertificate({
      directory: spec.directory, email: spec.email, names: spec.names, accountKeyPem: this.accountKey!.pem,
      ...(this.caPem !== undefined && { caPem: this.caPem }),
      step: (message) => log.info(message),
      publish: async (token, keyAuthorization) => {
        challenges.set(token, keyAuthorization);
        const out = await peers.publishToken(token, keyAuthorization);
        if (out.failed.length > 0) log.warn({ failed: out.failed }, `ACME token not handed to peer lb(s) ${out.failed.join('; ')}: they could not answer it after a takeover`);
      },
      withdraw: async (token) => {
        challenges.delete(token);
        await peers.withdrawToken(token);
      },
    });
    this.accountUrl = result.accountUrl;
    const cert: AcmeCertificate = { certPem: result.certPem, keyPem: result.keyPem, directory: spec.directory };
    if (!this.adopt(cert, `issued by ${spec.directory}`, true)) throw new Error('the ACME server sent a certificate that does not load');
    this.o.counters?.issued(kind);
    if (peers.count > 0) {
      const out = await peers.pushCertificate(cert);
      if (out.ok.length > 0) log.info({ peers: out.ok }, `ACME certificate handed to peer lb(s) ${out.ok.join(', ')}`);
      if (out.failed.length > 0) log.warn({ failed: out.failed }, `ACME certificate not handed to ${out.failed.join('; ')}: they ask again when they need it`);
    }
  }
}
