/**
 * Ports for integration tests: random ports in 20000–30000 (below the Linux ephemeral range, so
 * they never collide with the local ports of outgoing connections), retried on EADDRINUSE.
 */
import net from 'node:net';

export const HOST = '127.0.0.1';
const LOW = 20000;
const HIGH = 30000;

export function randomPort(): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/** Listen `server` on a random free port of 127.0.0.1 and return the port. */
export async function listenOnFreePort(server: net.Server, attempts = 50): Promise<number> {
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = randomPort();
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen({ host: HOST, port, exclusive: true }, () => {
          server.off('error', onError);
          resolve();
        });
      });
      return port;
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  throw new Error(`no free port found in ${attempts} attempts: ${String(lastErr)}`);
}

/** A port that was free a moment ago and has nothing listening on it (connection refused). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  const port = await listenOnFreePort(srv);
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
