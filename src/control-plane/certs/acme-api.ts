/**
 * The agent API routes through which lbs share ACME state (lb callers only, besides the admin):
 * POST /tls/acme/token, POST /tls/acme/certificate, GET /tls/acme/certificate.
 */
import { ApiError, type AgentApi } from '../agent-api/index.js';
import type { ChallengeResponder } from '../../data-plane/tls/index.js';
import type { AcmeCertificateSource } from './acme-source.js';

export function mountAcmeApi(api: AgentApi, challenges: ChallengeResponder, source: () => AcmeCertificateSource | undefined): void {
  api.route('POST', '/tls/acme/token', (req) => {
    const b = req.body as { token?: unknown; keyAuthorization?: unknown; remove?: unknown } | undefined;
    if (!b || typeof b.token !== 'string') throw new ApiError(400, 'body must be {"token", "keyAuthorization"} or {"token", "remove": true}');
    if (b.remove === true) {
      challenges.delete(b.token);
      return { status: 200, body: { token: b.token, removed: true } };
    }
    if (typeof b.keyAuthorization !== 'string' || !b.keyAuthorization.startsWith(`${b.token}.`)) throw new ApiError(400, '"keyAuthorization" must be the token, a dot and the account key thumbprint');
    try {
      challenges.set(b.token, b.keyAuthorization);
    } catch (err) {
      throw new ApiError(400, (err as Error).message);
    }
    return { status: 200, body: { token: b.token } };
  }, ['lb']);
  api.route('POST', '/tls/acme/certificate', (req) => {
    const s = source();
    if (!s) throw new ApiError(503, 'the ACME source of this lb is not started yet');
    const b = req.body as { cert?: unknown; key?: unknown; directory?: unknown } | undefined;
    if (!b || typeof b.cert !== 'string' || typeof b.key !== 'string' || typeof b.directory !== 'string') throw new ApiError(400, 'body must be {"cert", "key", "directory"} (PEM, PEM, URL)');
    const r = s.offer({ certPem: b.cert, keyPem: b.key, directory: b.directory }, req.caller.name);
    if (!r.taken && !r.why.startsWith('already serving')) throw new ApiError(409, `certificate refused: ${r.why}`);
    return { status: 200, body: r };
  }, ['lb']);
  api.route('GET', '/tls/acme/certificate', () => {
    const c = source()?.certificate();
    if (!c) throw new ApiError(404, 'this lb holds no ACME certificate');
    return { status: 200, body: { cert: c.certPem, key: c.keyPem, directory: c.directory } };
  }, ['lb']);
}
