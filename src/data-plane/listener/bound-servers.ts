/**
 * The listening sockets of one frontend, keyed by address, so an address can come and go while
 * the frontend keeps running: the active lb binds the VIP on takeover and lets it go on
 * hand-over, without touching its own address or the connections already accepted.
 */
import type net from 'node:net';
import { formatAddress, listenAll, type BoundAddress, type ListenOptions } from './listen.js';

export class BoundServers {
  private readonly servers = new Map<string, { address: BoundAddress; server: net.Server }>();

  constructor(private readonly onConnection: (s: net.Socket) => void, private readonly opts: ListenOptions = {}) {}

  /** Listen on every new address or on none (see listenAll). */
  async add(addresses: readonly BoundAddress[]): Promise<void> {
    const fresh = addresses.filter((a) => !this.servers.has(formatAddress(a)));
    const servers = await listenAll(fresh, this.onConnection, this.opts);
    servers.forEach((server, i) => this.servers.set(formatAddress(fresh[i]!), { address: fresh[i]!, server }));
  }

  /** Stop accepting on this host at once; connections it accepted stay with their frontend. */
  removeHost(host: string): void {
    for (const [key, x] of this.servers) {
      if (x.address.host !== host) continue;
      x.server.close();
      this.servers.delete(key);
    }
  }

  /** Stop accepting everywhere; resolves when every accepted connection has ended. */
  closeAll(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    return Promise.all(all.map((x) => new Promise<void>((resolve) => x.server.close(() => resolve())))).then(() => {});
  }
}
