/**
 * `firewall.host: enforce`: the agent applies its node's ruleset when it starts and after every
 * reload, and keeps it applied: every check interval it lists the table, and when it is gone or
 * differs from what was applied (someone flushed it, a package reloaded its own rules), applies it
 * again and says so. Established connections survive a re-apply (the ruleset accepts them first).
 *
 * It fails closed: an apply that fails at start or reload is thrown to the caller (the node does
 * not start; the reload fails), and the error stays in status() until an apply succeeds.
 */
import { createHash } from 'node:crypto';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { BulwarkError } from '../../core/errors.js';
import { currentTable, loadRuleset } from './apply.js';

export interface EnforcerStatus {
  mode: 'enforce';
  appliedAt: string | null;
  corrections: number;
  error: string | null;
}

const hash = (text: string | undefined): string => createHash('sha256').update(text ?? '').digest('hex');

/** What the enforcer does with nft (tests pass a table of their own). */
export interface NftTable {
  load(script: string): Promise<void>;
  /** The table as nft lists it, undefined when there is none. */
  current(): Promise<string | undefined>;
}

const REAL_NFT: NftTable = { load: loadRuleset, current: currentTable };

/** The ruleset could not be applied (nft refused it, is missing, or we are not root). */
export class HostFirewallError extends BulwarkError {
  constructor(message: string, details: readonly string[] = []) {
    super('BWK_FIREWALL_APPLY', message, details);
    this.name = 'HostFirewallError';
  }
}

export class FirewallEnforcer {
  private script = '';
  private applied = '';
  private appliedAt: number | undefined;
  private corrections = 0;
  private error: string | undefined;
  private timer: TimerHandle | undefined;
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly clock: Clock, private readonly log: Logger, private readonly checkMs = 5000, private readonly nft: NftTable = REAL_NFT) {}

  /**
   * Apply this ruleset now (start and reload), then keep it applied. Throws HostFirewallError when
   * it cannot be applied; the table then stays as it was (nft -f is one transaction), and so does
   * the ruleset kept applied: the previous one, if there was one.
   */
  async enforce(script: string): Promise<void> {
    let failed: string | undefined;
    // Inside the queue: a periodic check never sees a script that is not (or not yet) applied.
    await this.run(async () => {
      const previous = this.script;
      this.script = script;
      failed = await this.apply('applied');
      if (failed !== undefined) this.script = previous;
    });
    if (failed !== undefined) {
      throw new HostFirewallError(`the host firewall could not be applied: ${failed}`, [
        'nft must be installed and the agent run as root; `bulwark firewall plan --node NAME | nft -c -f -` shows what nft says about the ruleset',
      ]);
    }
    this.clock.clearTimeout(this.timer);
    const tick = (): void => {
      void this.run(() => this.check());
      this.timer = this.clock.setTimeout(tick, this.checkMs);
    };
    this.timer = this.clock.setTimeout(tick, this.checkMs);
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
  }

  status(): EnforcerStatus {
    return {
      mode: 'enforce', appliedAt: this.appliedAt === undefined ? null : new Date(this.appliedAt).toISOString(),
      corrections: this.corrections, error: this.error ?? null,
    };
  }

  private run(step: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(step, step);
    return this.busy;
  }

  /** Apply the current script; returns nft's complaint when that failed (also logged and kept for status). */
  private async apply(what: string): Promise<string | undefined> {
    try {
      await this.nft.load(this.script);
      this.applied = hash(await this.nft.current());
      this.appliedAt = this.clock.now();
      this.error = undefined;
      this.log.info(`host firewall ${what} (table inet bulwark)`);
      return undefined;
    } catch (err) {
      this.error = (err as Error).message;
      this.log.error({ err: this.error }, `host firewall could not be applied: ${this.error}`);
      return this.error;
    }
  }

  private async check(): Promise<void> {
    let now: string | undefined;
    try {
      now = await this.nft.current();
    } catch (err) {
      this.error = (err as Error).message;
      this.log.error({ err: this.error }, `host firewall could not be checked: ${this.error}`);
      return;
    }
    if (hash(now) === this.applied) return;
    this.corrections++;
    await this.apply(now === undefined ? 're-applied: the table had been removed' : 're-applied: the table had been changed');
  }
}
