/**
 * HTTP-01 answers the edge serves on its plain-HTTP ports: `GET /.well-known/acme-challenge/TOKEN`
 * → the token's key authorization. Whoever orders certificates (the control plane) puts tokens in
 * and takes them out; the edge only looks them up, so it needs no knowledge of ACME.
 */
import { ACME_CHALLENGE } from '../http1/canned.js';

/** base64url, as RFC 8555 §8.3 makes tokens; anything else is not ours to answer. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export class ChallengeResponder {
  private readonly tokens = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new Error(`not an ACME token: ${JSON.stringify(token.slice(0, 80))}`);
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  /** The key authorization for a request target, when it asks for a token we hold. */
  answer(target: string): string | undefined {
    if (this.tokens.size === 0 || !target.startsWith(ACME_CHALLENGE)) return undefined;
    const end = target.search(/[?#]/);
    return this.tokens.get(target.slice(ACME_CHALLENGE.length, end < 0 ? undefined : end));
  }
}

/** The whole HTTP/1.1 response for a challenge answer. */
export function challengeResponse(keyAuthorization: string, requestId: string, close: boolean): string {
  return 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: no-store\r\n'
    + `x-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(keyAuthorization)}\r\n`
    + (close ? 'connection: close\r\n' : '') + '\r\n' + keyAuthorization;
}
