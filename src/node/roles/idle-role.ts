/** Roles whose capability has not landed yet run idle: healthy, and saying what they wait for. */
import type { Role } from '../../config/types.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';

const WAITING_FOR: Partial<Record<Role, string>> = {
  db: 'the database capability (PostgreSQL primary-replica with automatic failover)',
};

export class IdleRole implements RoleRuntime {
  constructor(readonly role: Role, private readonly ctx: RoleContext) {}

  private get waiting(): string {
    return WAITING_FOR[this.role] ?? 'its capability';
  }

  async start(): Promise<void> {
    this.ctx.log.info({ waitingFor: this.waiting }, `idle ${this.role} node: waiting for ${this.waiting}`);
  }

  async stop(): Promise<void> {}

  health(): RoleHealth {
    return { healthy: true, detail: `idle: waiting for ${this.waiting}` };
  }

  status(): Record<string, unknown> {
    return { idle: true, waitingFor: this.waiting };
  }

  async reload(): Promise<string> {
    return 'nothing to reload on an idle node';
  }
}
