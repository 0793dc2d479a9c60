/**
 * The VIP on one machine: a local address (loopback) that only the active lb binds. The kernel
 * itself refuses a second bind of the same address and port, so even a holder that froze past
 * its lease cannot share the VIP with the new one: the new one waits for the port instead.
 */
import type { Clock } from '../../core/clock.js';
import { sleep } from '../../core/clock.js';
import type { Edge } from '../../data-plane/index.js';
import type { VipPort } from './ports.js';

export class LocalVip implements VipPort {
  constructor(private readonly edge: Edge, private readonly vip: string, private readonly clock: Clock, private readonly waitForPortMs: number) {}

  async acquire(): Promise<void> {
    const deadline = this.clock.now() + this.waitForPortMs;
    for (;;) {
      try {
        await this.edge.addBindHost(this.vip);
        return;
      } catch (err) {
        // The previous holder may still be letting go of the port: retry until it has.
        if (!/already in use/.test((err as Error).message) || this.clock.now() >= deadline) throw err;
        await sleep(this.clock, 25);
      }
    }
  }

  async release(): Promise<void> {
    this.edge.removeBindHost(this.vip);
  }

  async announce(): Promise<void> {}

  describe(): string {
    return `${this.vip} (bound on this host)`;
  }
}
