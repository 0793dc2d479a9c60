/**
 * The user's notify hooks: a shell command per transition (move a cloud floating IP, page
 * someone). They run in the background; a slow or failing hook is logged, never waited for.
 */
import { spawn } from 'node:child_process';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { HookEvent, HookPort } from './ports.js';

export class ShellHooks implements HookPort {
  constructor(
    private readonly commands: { onActive?: string; onPassive?: string; onFault?: string },
    private readonly env: { vip: string; node: string },
    /** Where the commands run: the node's folder, so relative paths land beside its logs. */
    private readonly cwd: string,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly timeoutMs = 60_000,
  ) {}

  run(event: HookEvent, reason: string): void {
    const command = { active: this.commands.onActive, passive: this.commands.onPassive, fault: this.commands.onFault }[event];
    if (!command) return;
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: 'ignore',
      cwd: this.cwd,
      timeout: this.timeoutMs,
      env: { ...process.env, BULWARK_VIP: this.env.vip, BULWARK_NODE: this.env.node, BULWARK_STATE: event, BULWARK_REASON: reason },
    });
    const started = this.clock.now();
    child.on('error', (err) => this.log.error({ hook: event, err: err.message }, `notify on_${event} could not start: ${err.message}`));
    child.on('exit', (code, signal) => {
      const ms = this.clock.now() - started;
      if (code === 0) this.log.info({ hook: event, ms }, `notify on_${event} done in ${ms}ms`);
      else this.log.warn({ hook: event, code, signal, ms }, `notify on_${event} failed (${signal ?? `exit ${code}`}) after ${ms}ms: ${command}`);
    });
  }
}
