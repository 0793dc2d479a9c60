/**
 * One ACME order (RFC 8555) with the acme-client library: account, order, HTTP-01 challenges,
 * finalization, download. Each step is one log line. Challenges are published through the
 * caller (on this edge and its peer lbs) before the server is asked to validate, and withdrawn
 * afterwards whatever happened.
 *
 * The library retries some failures itself with its own timers; those retries are turned off
 * here, so a failed order comes back at once and the caller's schedule decides when to try again.
 */
import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import { isIP } from 'node:net';
import type * as Acme from 'acme-client';

export interface OrderRequest {
  readonly directory: string;
  readonly email: string;
  readonly names: readonly string[];
  readonly accountKeyPem: string;
  /** PEM CA(s) to trust for the directory's HTTPS, besides the system's. */
  readonly caPem?: string;
  /** Make `token` answer `keyAuthorization` wherever the VIP may be served; resolves once in place. */
  publish(token: string, keyAuthorization: string): Promise<void>;
  withdraw(token: string): Promise<void>;
  step(message: string): void;
}

export interface OrderResult {
  readonly certPem: string;
  readonly keyPem: string;
  readonly accountUrl: string;
}

/** Loaded on first use: every lb imports this module, few of them speak ACME. */
let lib: Promise<typeof Acme> | undefined;
const agents = new Map<string, { caPem: string; agent: https.Agent }>();

function acmeLib(): Promise<typeof Acme> {
  lib ??= (async () => {
    await import('reflect-metadata');
    const acme = await import('acme-client');
    acme.axios.defaults.timeout = 30_000;
    (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
    // The library shares one HTTP client: pick the trust per directory origin.
    acme.axios.interceptors.request.use((config) => {
      const origin = config.url ? safeOrigin(config.url) : undefined;
      const agent = origin ? agents.get(origin)?.agent : undefined;
      if (agent) config.httpsAgent = agent;
      return config;
    });
    return acme;
  })();
  return lib;
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

export async function orderCertificate(req: OrderRequest): Promise<OrderResult> {
  const acme = await acmeLib();
  // One agent per directory, kept: retries and renewals reuse its connections.
  const origin = new URL(req.directory).origin;
  if (req.caPem !== undefined && agents.get(origin)?.caPem !== req.caPem) {
    agents.get(origin)?.agent.destroy();
    agents.set(origin, { caPem: req.caPem, agent: new https.Agent({ ca: req.caPem, keepAlive: true }) });
  }
  await probeDirectory(req.directory, req.caPem);
  const client = new acme.Client({ directoryUrl: req.directory, accountKey: req.accountKeyPem, backoffAttempts: 12, backoffMin: 500, backoffMax: 10_000 });
  const names = req.names.join(', ');

  await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${req.email}`] }).catch((err) => { throw explain('registering the account', req.directory, err); });
  const accountUrl = client.getAccountUrl();
  req.step(`ACME account ${accountUrl} ready at ${req.directory}`);

  const order = await client.createOrder({ identifiers: req.names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n })) })
    .catch((err) => { throw explain('placing the order', req.directory, err); });
  const authorizations = await client.getAuthorizations(order);
  req.step(`ACME order placed for ${names}: ${authorizations.filter((a) => a.status !== 'valid').length} of ${authorizations.length} name(s) to prove`);

  await Promise.all(authorizations.map(async (authz) => {
    const name = authz.identifier.value;
    if (authz.status === 'valid') return req.step(`ACME: ${name} already proven (authorization reused)`);
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) throw new Error(`the ACME server offers no http-01 challenge for ${name} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    await req.publish(challenge.token, keyAuthorization);
    try {
      req.step(`ACME: answering http-01 for ${name} at /.well-known/acme-challenge/${challenge.token}, asking for validation`);
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge).catch((err) => { throw explain(`validating ${name}`, req.directory, err); });
      req.step(`ACME: ${name} validated`);
    } finally {
      await req.withdraw(challenge.token);
    }
  }));

  const keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const [, csr] = await acme.crypto.createCsr({ altNames: [...req.names] }, keyPem);
  const finalized = await client.finalizeOrder(order, csr).catch((err) => { throw explain('finalizing the order', req.directory, err); });
  req.step(`ACME order for ${names} finalized, downloading the certificate`);
  const certPem = await client.getCertificate(finalized);
  return { certPem, keyPem, accountUrl };
}

/**
 * GET the directory first: the library reports a connection that fails (refused, TLS, timeout)
 * as a TypeError of its own, so this step is where such errors get their real name.
 */
function probeDirectory(url: string, caPem: string | undefined): Promise<void> {
  const fail = (why: string): Error => new Error(`the ACME directory ${url} ${why}`);
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, timeout: 15_000, ...(caPem !== undefined && { ca: caPem }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 65_536) body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(fail(`answers HTTP ${res.statusCode}`));
        try {
          if (typeof (JSON.parse(body) as { newOrder?: unknown }).newOrder === 'string') return resolve();
        } catch { /* reported below */ }
        reject(fail('does not answer with an ACME directory (JSON naming newOrder)'));
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 15s'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = !err.code ? err.message : err.message.includes(err.code) ? err.code : `${err.code} (${err.message})`;
      reject(fail(`cannot be reached: ${why}`));
    });
  });
}

/** Errors from axios or the ACME server, said in one line with the step that failed. */
function explain(step: string, directory: string, err: unknown): Error {
  const e = err as { code?: string; message?: string; response?: { status?: number; data?: { detail?: string; type?: string } } };
  const server = e.response?.data?.detail ? `${e.response.data.detail}${e.response.data.type ? ` (${e.response.data.type})` : ''}` : undefined;
  const why = server ?? (e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}` : e.message ?? String(err));
  return new Error(`${step} at ${directory} failed: ${why}`, { cause: err });
}
