/**
 * A running node's own certificate, kept current without a restart. Node certificates live a
 * year and are reissued once two thirds of that has passed, but only when something asks for
 * them: before this, that was the agent's start, so an agent that ran for nine months kept
 * serving (and calling its peers with) a certificate nearing its end. Every hour the node asks
 * again (`nodeCredentials`: reissued on the spot where the CA key is, else read from `pki/`,
 * where an operator copies a renewed pair) and hands a changed pair to whoever serves or calls
 * with it: the agent API, the client pool, the dashboard, PostgreSQL.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { TlsCredentials } from './credentials.js';

const CHECK_EVERY_MS = 3_600_000;

export interface CredentialRenewalOptions {
  readonly initial: TlsCredentials;
  /** The credentials as they should be now (may issue a new pair); throws when it cannot say. */
  readonly fetch: () => Promise<TlsCredentials>;
  /** Told once per change; a failure is logged (the new pair is still the current one). */
  readonly onChange: (next: TlsCredentials) => Promise<void> | void;
  readonly clock: Clock;
  readonly log: Logger;
}

export class CredentialRenewal {
  private current: TlsCredentials;
  private timer: TimerHandle | undefined;
  private checking: Promise<boolean> | undefined;

  constructor(private readonly o: CredentialRenewalOptions) {
    this.current = o.initial;
  }

  get credentials(): TlsCredentials {
    return this.current;
  }

  start(): void {
    const tick = (): void => {
      void this.check().finally(() => {
        if (this.timer !== undefined) this.timer = this.o.clock.setTimeout(tick, CHECK_EVERY_MS);
      });
    };
    this.timer = this.o.clock.setTimeout(tick, CHECK_EVERY_MS);
  }

  stop(): void {
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ask once; true when the pair changed (and the listeners were told). */
  check(): Promise<boolean> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<boolean> {
    let next: TlsCredentials;
    try {
      next = await this.o.fetch();
    } catch (err) {
      // The pair in use stays; the expiry metric and its alert tell the operator in time.
      this.o.log.error({ err: (err as Error).message }, `cannot renew this node's certificate: ${(err as Error).message}`);
      return false;
    }
    if (next.cert === this.current.cert && next.key === this.current.key && next.ca === this.current.ca) return false;
    this.current = next;
    this.o.log.info({ cert: next.certPath }, `node certificate renewed (${next.certPath}): now served and presented`);
    try {
      await this.o.onChange(next);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, `renewed certificate not taken up everywhere: ${(err as Error).message}`);
    }
    return true;
  }
}
