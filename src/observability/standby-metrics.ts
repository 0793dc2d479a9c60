/** The VIP election's metrics on an lb node. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CandidateState } from '../control-plane/standby/index.js';
import type { Clock } from '../core/clock.js';

export class StandbyMetrics {
  private readonly active: Gauge;
  private readonly state: Gauge<'state'>;
  private readonly takeovers: Counter;
  private readonly peerTakeovers: Counter;
  private readonly lastTakeover: Gauge;

  private readonly startedAt: number | undefined;
  private activations = 0;

  /**
   * With `clock`, this lb's first activation within `startupGraceMs` of its start is the
   * start-up election (both lbs race, a voter may briefly name the other), not a takeover.
   */
  constructor(registry: Registry, votes: () => number, private readonly clock?: Clock, private readonly startupGraceMs = 5000) {
    this.startedAt = clock?.now();
    this.active = new Gauge({ name: 'bulwark_vip_active', help: '1 while this lb holds the VIP', registers: [registry] });
    this.state = new Gauge({ name: 'bulwark_vip_state', help: '1 for the current standby state of this lb', labelNames: ['state'], registers: [registry] });
    this.takeovers = new Counter({ name: 'bulwark_vip_takeovers_total', help: 'Times this lb took the VIP', registers: [registry] });
    // Taking the VIP from another lb (not the first election): what the VipTakeover alert watches.
    this.peerTakeovers = new Counter({ name: 'bulwark_vip_peer_takeovers_total', help: 'Times this lb took the VIP over from another lb', registers: [registry] });
    this.lastTakeover = new Gauge({
      name: 'bulwark_vip_last_takeover_seconds',
      help: 'Last takeover: from the last vote that named another holder to this lb serving the VIP',
      registers: [registry],
    });
    new Gauge({ name: 'bulwark_vip_lease_votes', help: 'Voters whose grant of the lease to this lb is running', registers: [registry],
      collect(): void {
        this.set(votes());
      } });
    this.set('passive');
  }

  set(state: CandidateState, tookOverMs?: number): void {
    this.active.set(state === 'active' ? 1 : 0);
    for (const s of ['active', 'passive', 'fault'] as const) this.state.set({ state: s }, s === state ? 1 : 0);
    if (state === 'active') this.takeovers.inc();
    const startup = state === 'active' && this.activations++ === 0 && this.startedAt !== undefined && this.clock!.now() - this.startedAt < this.startupGraceMs;
    if (tookOverMs !== undefined) {
      this.lastTakeover.set(tookOverMs / 1000);
      if (state === 'active' && !startup) this.peerTakeovers.inc();
    }
  }
}
