/**
 * A Dcs that talks to an embedded store over its agent API routes (embedded-api.ts), through the
 * member's mutual-TLS agent client. Every call is one HTTPS request bounded by timeoutMs; a
 * network error, a timeout or
 * a 5xx is DcsUnavailableError (the outcome of a write is then unknown, as with any store). A
 * 4xx is a plain Error: the request itself was wrong (bad argument, wrong cluster, no DCS at that
 * address), which retrying will not fix.
 *
 * waitForChange long-polls with `since` = the revision of the last answer this client got, so a
 * change that lands between a read and the wait wakes the waiter at once instead of being
 * missed. It never rejects: an unreachable store just waits out the timeout on the clock.
 */
import { systemClock, type Clock } from '../../../core/clock.js';
import { AgentUnreachable, type AgentClient } from '../../agent-api/index.js';
import { checkDocKey, checkExpectedVersion, checkName, checkTtl, isPlainObject, toJsonText } from './common.js';
import { EMBEDDED_DCS_PREFIX } from './embedded-api.js';
import { EMBEDDED_MIN_TTL_MS } from './embedded.js';
import { DcsUnavailableError, type ClusterView, type Dcs, type DocKey, type MemberData } from './types.js';

export interface EmbeddedDcsClientOptions {
  /** Where the store's agent API listens, e.g. `https://127.0.1.31:7700`. */
  readonly baseUrl: string;
  /** The member's agent client (its certificate opens the store's API). */
  readonly agents: AgentClient;
  readonly cluster: string;
  /** Bound on every call (default 2000 ms). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

type Answer = Record<string, unknown> & { revision?: unknown };

export class EmbeddedDcsClient implements Dcs {
  readonly description: string;
  readonly minTtlMs = EMBEDDED_MIN_TTL_MS;
  private readonly base: string;
  private readonly cluster: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly agents: AgentClient;
  private readonly closing = new AbortController();
  /** Store revision in the last answer (not the maximum: a store that lost its file restarts lower). */
  private seen: number | undefined;

  constructor(opts: EmbeddedDcsClientOptions) {
    const url = new URL(opts.baseUrl);
    if (url.protocol !== 'https:') throw new TypeError(`embedded DCS URL must be https, got ${opts.baseUrl}`);
    this.base = url.origin;
    this.cluster = opts.cluster;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.clock = opts.clock ?? systemClock;
    this.agents = opts.agents;
    this.description = `embedded DCS ${url.host}`;
  }

  async read(): Promise<ClusterView> {
    const a = await this.call('read', 'GET', `read?cluster=${encodeURIComponent(this.cluster)}`);
    if (!isPlainObject(a.view)) throw new DcsUnavailableError(`${this.description}: read answered without a view`);
    return a.view as unknown as ClusterView;
  }

  async acquireLeader(name: string, ttlMs: number): Promise<boolean> {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    return this.ok(await this.call('acquire', 'POST', 'acquire', { name, ttlMs }));
  }

  async renewLeader(name: string, ttlMs: number): Promise<boolean> {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    return this.ok(await this.call('renew', 'POST', 'renew', { name, ttlMs }));
  }

  async releaseLeader(name: string): Promise<boolean> {
    checkName(name, 'leader name');
    return this.ok(await this.call('release', 'POST', 'release', { name }));
  }

  async touchMember(name: string, data: MemberData, ttlMs: number): Promise<void> {
    checkName(name, 'member name');
    checkTtl(ttlMs);
    if (!isPlainObject(data)) throw new TypeError('DCS member data must be a JSON object');
    toJsonText(data, `member ${name}'s data`);
    await this.call('touch-member', 'POST', 'touch-member', { name, data, ttlMs });
  }

  async deleteMember(name: string): Promise<void> {
    checkName(name, 'member name');
    await this.call('delete-member', 'POST', 'delete-member', { name });
  }

  async setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): Promise<boolean> {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, true);
    toJsonText(value, `document ${key}`);
    const payload: Record<string, unknown> = { key, value };
    if (expectedVersion !== undefined) payload.expectedVersion = expectedVersion;
    return this.ok(await this.call('set-doc', 'POST', 'set-doc', payload));
  }

  async deleteDoc(key: DocKey, expectedVersion?: string): Promise<boolean> {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, false);
    const payload: Record<string, unknown> = { key };
    if (expectedVersion !== undefined) payload.expectedVersion = expectedVersion;
    return this.ok(await this.call('delete-doc', 'POST', 'delete-doc', payload));
  }

  waitForChange(timeoutMs: number): Promise<void> {
    if (this.closing.signal.aborted) return Promise.resolve();
    const wait = Math.max(0, timeoutMs);
    return new Promise<void>((resolve) => {
      const stop = new AbortController();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.clock.clearTimeout(timer);
        this.closing.signal.removeEventListener('abort', finish);
        stop.abort();
        resolve();
      };
      const timer = this.clock.setTimeout(finish, wait);
      this.closing.signal.addEventListener('abort', finish);
      const q = new URLSearchParams({ cluster: this.cluster, timeoutMs: String(wait) });
      if (this.seen !== undefined) q.set('since', String(this.seen));
      // The wait itself is bounded by the timer above; the call's own bound only has to outlast it.
      this.agents.json<Answer>(this.base, `${EMBEDDED_DCS_PREFIX}/wait?${q.toString()}`, { signal: stop.signal, timeoutMs: wait + this.timeoutMs })
        .then(({ status, body: a }) => {
          if (status !== 200 || !isPlainObject(a)) return; // store trouble: wait out the timeout
          if (typeof a.revision === 'number') this.seen = a.revision;
          finish();
        })
        .catch(() => {
          // Unreachable, or aborted by finish(): either way the timer (or finish) resolves us.
        });
    });
  }

  async close(): Promise<void> {
    this.closing.abort();
  }

  private ok(a: Answer): boolean {
    if (typeof a.ok !== 'boolean') throw new DcsUnavailableError(`${this.description}: answer without "ok"`);
    return a.ok;
  }

  private async call(op: string, method: 'GET' | 'POST', path: string, payload?: Record<string, unknown>): Promise<Answer> {
    if (this.closing.signal.aborted) throw new DcsUnavailableError(`${this.description}: client is closed`);
    let status: number;
    let text: string;
    try {
      const res = await this.agents.request(this.base, `${EMBEDDED_DCS_PREFIX}/${path}`, {
        method, signal: this.closing.signal, timeoutMs: this.timeoutMs,
        ...(payload && { body: { cluster: this.cluster, ...payload } }),
      });
      status = res.status;
      text = res.text;
    } catch (err) {
      const why = err instanceof AgentUnreachable
        ? err.reason === 'timeout' ? `no answer within ${this.timeoutMs} ms` : err.reason === 'aborted' ? 'client closed' : err.message
        : String(err);
      throw new DcsUnavailableError(`${this.description}: ${op} failed: ${why}`, { cause: err });
    }
    let a: Answer | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (isPlainObject(parsed)) a = parsed;
    } catch {
      // handled below
    }
    const error = a && typeof a.error === 'string' ? a.error : text.slice(0, 200);
    if (status >= 500) throw new DcsUnavailableError(`${this.description}: ${op} failed: HTTP ${status}: ${error}`);
    if (status !== 200) throw new Error(`${this.description} refused ${op}: HTTP ${status}: ${error}`);
    if (!a || typeof a.revision !== 'number') throw new DcsUnavailableError(`${this.description}: ${op}: malformed answer`);
    this.seen = a.revision;
    return a;
  }
}
