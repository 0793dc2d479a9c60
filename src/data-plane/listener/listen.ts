/** Binding listeners, with errors that say which address failed and why. */
import net from 'node:net';
import { BulwarkError } from '../../core/errors.js';

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
}

export function formatAddress(a: BoundAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Makes the listening socket (plain TCP by default; TLS frontends pass their own). */
export type ServerFactory = (onConnection: (s: net.Socket) => void, opts: { allowHalfOpen?: boolean }) => net.Server;

export interface ListenOptions {
  readonly allowHalfOpen?: boolean;
  readonly createServer?: ServerFactory;
}

/** Listen on every address or on none: a partial bind is undone before the error is thrown. */
export async function listenAll(
  addresses: readonly BoundAddress[], onConnection: (s: net.Socket) => void, opts: ListenOptions = {},
): Promise<net.Server[]> {
  const servers: net.Server[] = [];
  try {
    for (const a of addresses) {
      const server = opts.createServer
        ? opts.createServer(onConnection, opts)
        : net.createServer({ noDelay: true, allowHalfOpen: opts.allowHalfOpen ?? false }, onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: a.host, port: a.port, backlog: 1024, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    const e = err as NodeJS.ErrnoException;
    const which = addresses[servers.length]!;
    const why = e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new BulwarkError('BWK_LISTEN_FAILED', `cannot listen on ${formatAddress(which)}: ${why}`, [], { cause: err });
  }
  return servers;
}
