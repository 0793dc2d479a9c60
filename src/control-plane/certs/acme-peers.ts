/**
 * The lbs share what ACME gives one of them, over their agent APIs (mutual TLS, lb callers only):
 * challenge tokens before validation (so a takeover mid-order still answers), the certificate and
 * key after issuance (so a takeover serves it at once), and the current certificate on request
 * (an lb starting without one asks before it would order one itself).
 */
import type { NodeSpec } from '../../config/types.js';
import type { AgentClient } from '../agent-api/index.js';
import type { AcmeCertificate } from './acme-files.js';

const TIMEOUT_MS = 3_000;

export interface PeerOutcome {
  readonly ok: string[];
  readonly failed: string[];
}

export class AcmePeers {
  constructor(private readonly peers: readonly NodeSpec[], private readonly agents: AgentClient) {}

  get count(): number {
    return this.peers.length;
  }

  /** POST to every peer at once; a peer that is down or refuses is named in `failed` with why. */
  private async all(path: string, body: unknown): Promise<PeerOutcome> {
    const out: PeerOutcome = { ok: [], failed: [] };
    await Promise.all(this.peers.map(async (p) => {
      try {
        const a = await this.agents.request(p, path, { method: 'POST', body, timeoutMs: TIMEOUT_MS });
        if (a.status === 200) out.ok.push(p.name);
        else out.failed.push(`${p.name} (HTTP ${a.status}: ${a.text.slice(0, 200).trim()})`);
      } catch (err) {
        out.failed.push(`${p.name} (${(err as Error).message})`);
      }
    }));
    return out;
  }

  publishToken(token: string, keyAuthorization: string): Promise<PeerOutcome> {
    return this.all('/tls/acme/token', { token, keyAuthorization });
  }

  withdrawToken(token: string): Promise<PeerOutcome> {
    return this.all('/tls/acme/token', { token, remove: true });
  }

  pushCertificate(c: AcmeCertificate): Promise<PeerOutcome> {
    return this.all('/tls/acme/certificate', { cert: c.certPem, key: c.keyPem, directory: c.directory });
  }

  /** Every certificate the peers hold (those that answer). */
  async pull(): Promise<{ from: string; certificate: AcmeCertificate }[]> {
    const got = await Promise.all(this.peers.map(async (p) => {
      try {
        const { status, body } = await this.agents.json<{ cert?: unknown; key?: unknown; directory?: unknown }>(p, '/tls/acme/certificate', { timeoutMs: TIMEOUT_MS });
        if (status !== 200 || typeof body.cert !== 'string' || typeof body.key !== 'string' || typeof body.directory !== 'string') return [];
        return [{ from: p.name, certificate: { certPem: body.cert, keyPem: body.key, directory: body.directory } }];
      } catch {
        return [];
      }
    }));
    return got.flat();
  }
}
