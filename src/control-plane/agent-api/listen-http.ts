import type http from 'node:http';
import https from 'node:https';
import { BulwarkError } from '../../core/errors.js';
import type { TlsCredentials } from '../certs/credentials.js';
import { INTERMEDIATE } from '../../data-plane/tls/index.js';

/**
 * The agent API's listener: HTTPS that only completes a handshake with a client certificate
 * signed by the cluster CA. `onRefused` hears about every refused handshake (no certificate, a
 * foreign CA, plain HTTP) with a short reason.
 */
export async function listenHttps(host: string, port: number, credentials: TlsCredentials, handler: http.RequestListener,
  onRefused: (reason: string, from: string) => void): Promise<https.Server> {
  const server = https.createServer({
    ...agentTlsContext(credentials), requestCert: true, rejectUnauthorized: true, requestTimeout: 10_000, headersTimeout: 5_000,
  }, handler);
  server.keepAliveTimeout = 5_000;
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => onRefused(refusalReason(err), socket.remoteAddress ?? 'unknown'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BulwarkError('BWK_LISTEN_FAILED', `agent API cannot listen on ${host}:${port}: ${err.code ?? err.message}`, [], { cause: err })));
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  return server;
}

/** What the listener's TLS context holds: also what a renewed certificate replaces (setSecureContext). */
export function agentTlsContext(credentials: TlsCredentials): { ca: string; cert: string; key: string } & typeof INTERMEDIATE {
  return { ...INTERMEDIATE, ca: credentials.ca, cert: credentials.cert, key: credentials.key };
}

function refusalReason(err: NodeJS.ErrnoException): string {
  if (/peer did not return a certificate|certificate required/i.test(err.message)) return 'no client certificate';
  if (/unknown ca|certificate verify failed|unable to get|self.signed/i.test(err.message)) return 'client certificate not from the cluster CA';
  if (/http request|wrong version number/i.test(err.message)) return 'not TLS (plain HTTP?)';
  if (err.code === 'ECONNRESET') return 'client reset';
  return (err.code ?? err.message).slice(0, 80);
}
