/**
 * `firewall.host: enforce`: the agent applies its node's ruleset when it starts and after every
 * reload, and keeps it applied: every check interval it lists the table, and when it is gone or
 * differs from what was applied (someone flushed it, a package reloaded its own rules), applies it
 * again and says so. Established connections survive a re-apply (the ruleset accepts them first).
 */
import { createHash } from 'node:crypto';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { currentTable, loadRuleset } from './apply.js';

export interface EnforcerStatus {
  mode: 'enforce';
  appliedAt: string | null;
  corrections: number;
  error: string | null;
}

const hash = (text: string | undefined): string => createHash('sha256').update(text ?? '').digest('hex');

export class FirewallEnforcer {
  private script = '';
  private applied = '';
  private appliedAt: number | undefined;
  private corrections = 0;
  private error: string | undefined;
  private timer: TimerHandle | undefined;
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly clock: Clock, private readonly log: Logger, private readonly checkMs = 5000) {}

  /** Apply this ruleset now (start and reload), then keep it applied. */
  async enforce(script: string): Promise<void> {
    this.script = script;
    await this.run(() => this.apply('applied'));
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

  private async apply(what: string): Promise<void> {
    try {
      await loadRuleset(this.script);
      this.applied = hash(await currentTable());
      this.appliedAt = this.clock.now();
      this.error = undefined;
      this.log.info(`host firewall ${what} (table inet bulwark)`);
    } catch (err) {
      this.error = (err as Error).message;
      this.log.error({ err: this.error }, `host firewall could not be applied: ${this.error}`);
    }
  }

  private async check(): Promise<void> {
    let now: string | undefined;
    try {
      now = await currentTable();
    } catch (err) {
      this.error = (err as Error).message;
      return;
    }
    if (this.appliedAt !== undefined && hash(now) === this.applied) return;
    this.corrections++;
    await this.apply(now === undefined ? 're-applied: the table had been removed' : 're-applied: the table had been changed');
  }
}
