/**
 * A listener's subscription to its frontend's bans: the firewall object can change with a reload
 * (a frontend that gains or loses its firewall), so the listener follows whichever is current and
 * hears only that one.
 */
import type { EdgeFirewall } from './edge-firewall.js';

export class BanWatch {
  private watched: EdgeFirewall | undefined;
  private unwatch: (() => void) | undefined;

  constructor(private readonly onBan: (client: string) => void) {}

  /** Hear `fw`'s bans from now on (and no longer the previous firewall's); undefined: none. */
  follow(fw: EdgeFirewall | undefined): void {
    if (fw === this.watched) return;
    this.unwatch?.();
    this.watched = fw;
    this.unwatch = fw?.onBan(this.onBan);
  }
}
