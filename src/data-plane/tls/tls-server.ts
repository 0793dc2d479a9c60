/**
 * TLS listening sockets over a CertificateStore: handshakes pick the certificate by SNI; a store
 * update swaps the context that clients without SNI get. ALPN offers the server's protocols in its
 * order of preference (OpenSSL picks the first of ours the client also offers). Handshake
 * outcomes are counted, by TLS version and negotiated protocol.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { CertificateStore } from './certificate-store.js';
import { INTERMEDIATE } from './settings.js';

export interface HandshakeCounters {
  /** `protocol`: the TLS version ("TLSv1.3"); `alpn`: the negotiated protocol, "none" without ALPN. */
  handshake(frontend: string, protocol: string, alpn: string): void;
  handshakeFailed(frontend: string, reason: string): void;
}

/** A server factory for BoundServers: every accepted connection is a finished TLS handshake. */
export function tlsServerFactory(store: CertificateStore, frontend: string, counters: HandshakeCounters, alpn: readonly string[] = ['http/1.1']) {
  return (onConnection: (s: net.Socket) => void, opts: { allowHalfOpen?: boolean }): net.Server => {
    const pair = store.defaultPair();
    const server = tls.createServer({
      ...store.serverOptions(alpn), allowHalfOpen: opts.allowHalfOpen ?? false,
      ...(pair && { cert: pair.certPem, key: pair.keyPem }),
    }, (socket: tls.TLSSocket) => {
      counters.handshake(frontend, socket.getProtocol() ?? 'unknown', socket.alpnProtocol || 'none');
      onConnection(socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => counters.handshakeFailed(frontend, reasonOf(err)));
    const off = store.onChange(() => {
      const p = store.defaultPair();
      if (p) server.setSecureContext({ ...INTERMEDIATE, cert: p.certPem, key: p.keyPem });
    });
    server.on('close', off);
    return server;
  };
}

/** A short, bounded label for the metric: the OpenSSL reason, not the whole message. */
function reasonOf(err: NodeJS.ErrnoException): string {
  const m = /:([a-z0-9 _]+)(?::|$)/i.exec(err.message);
  if (err.code === 'ECONNRESET') return 'client reset';
  if (/unsupported protocol|wrong version number/i.test(err.message)) return 'unsupported protocol';
  if (/no shared cipher/i.test(err.message)) return 'no shared cipher';
  if (/no application protocol/i.test(err.message)) return 'no application protocol';
  if (/timeout/i.test(err.message)) return 'timeout';
  return (m?.[1] ?? err.code ?? 'other').toLowerCase().slice(0, 40);
}
