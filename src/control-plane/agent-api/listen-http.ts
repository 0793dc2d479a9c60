import http from 'node:http';
import { BulwarkError } from '../../core/errors.js';

export async function listenHttp(host: string, port: number, handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, handler);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BulwarkError('BWK_LISTEN_FAILED', `agent API cannot listen on ${host}:${port}: ${err.code ?? err.message}`, [], { cause: err })));
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  return server;
}
