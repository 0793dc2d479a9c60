/**
 * The embedded store on the agent API. JSON over HTTP, one route per Dcs method, every request
 * names its cluster (a client of another cluster gets 409, not someone else's lock). Every
 * answer carries `revision`, the store revision after the call, which the client passes back as
 * `since` to the long-poll so no change between a read and a wait is missed.
 *
 *   GET  /dcs/v1/read?cluster=C                           → { revision, view: ClusterView }
 *   POST /dcs/v1/acquire        { cluster, name, ttlMs }  → { revision, ok }
 *   POST /dcs/v1/renew          { cluster, name, ttlMs }  → { revision, ok }
 *   POST /dcs/v1/release        { cluster, name }         → { revision, ok }
 *   POST /dcs/v1/touch-member   { cluster, name, data, ttlMs } → { revision }
 *   POST /dcs/v1/delete-member  { cluster, name }         → { revision }
 *   POST /dcs/v1/set-doc        { cluster, key, value, expectedVersion? (string | null) } → { revision, ok }
 *   POST /dcs/v1/delete-doc     { cluster, key, expectedVersion? }   → { revision, ok }
 *   GET  /dcs/v1/wait?cluster=C&since=REV&timeoutMs=MS     → { revision, changed }  (long-poll)
 *
 * Bad input → 400 naming the field; a closed store or an unwritable file → 503 (the client
 * turns 5xx into DcsUnavailableError).
 *
 * Only db members change the store; web nodes (the db router's view) and the monitor may read.
 */
import { ApiError, type Access, type AgentApi, type ApiRequest, type ApiResponse } from '../../agent-api/server.js';
import { DOC_KEYS, isDocKey, isPlainObject, isValidName } from './common.js';
import type { EmbeddedDcsStore } from './embedded.js';
import { DcsUnavailableError, type DocKey, type MemberData } from './types.js';

export const EMBEDDED_DCS_PREFIX = '/dcs/v1';
/** Longest long-poll the server holds (a client asking for more gets this). */
export const MAX_WAIT_MS = 60_000;

type Body = Record<string, unknown>;

function body(req: ApiRequest): Body {
  if (!isPlainObject(req.body)) throw new ApiError(400, 'request body must be a JSON object');
  return req.body;
}

function field<T>(b: Body, name: string, ok: (v: unknown) => v is T, what: string): T {
  const v = b[name];
  if (!ok(v)) throw new ApiError(400, `field "${name}" must be ${what}, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  return v;
}

const isTtl = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 86_400_000;
const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is MemberData => isPlainObject(v);
const isName = (v: unknown): v is string => isValidName(v);
const isKey = (v: unknown): v is DocKey => isDocKey(v);
const WRITERS: Access = ['db'];
const READERS: Access = ['db', 'web', 'monitor'];
const NAME_WHAT = 'a name of 1-128 characters [A-Za-z0-9._-]';
const TTL_WHAT = 'a number of milliseconds in (0, 86400000]';

export function mountEmbeddedDcs(api: AgentApi, store: EmbeddedDcsStore): void {
  const checkCluster = (cluster: unknown): void => {
    if (typeof cluster !== 'string' || cluster === '') throw new ApiError(400, 'the request must name its cluster');
    if (cluster !== store.cluster) {
      throw new ApiError(409, `this embedded DCS serves cluster "${store.cluster}", not "${cluster}"`);
    }
  };
  /** Run one store operation; a closed store or a failed write is 503. */
  const guarded = async (fn: () => Body | Promise<Body>): Promise<ApiResponse> => {
    try {
      const out = await fn();
      return { status: 200, body: { revision: store.revision, ...out } };
    } catch (err) {
      if (err instanceof DcsUnavailableError) throw new ApiError(503, err.message);
      if (err instanceof TypeError) throw new ApiError(400, err.message);
      throw err;
    }
  };
  const post = (name: string, fn: (b: Body) => Body): void =>
    api.route('POST', `${EMBEDDED_DCS_PREFIX}/${name}`, (req) => {
      const b = body(req);
      checkCluster(b.cluster);
      return guarded(() => fn(b));
    }, WRITERS);

  api.route('GET', `${EMBEDDED_DCS_PREFIX}/read`, (req) => {
    checkCluster(req.query.get('cluster'));
    return guarded(() => {
      const snap = store.read();
      return { view: snap.view };
    });
  }, READERS);

  post('acquire', (b) => ({
    ok: store.acquireLeader(field(b, 'name', isName, NAME_WHAT), field(b, 'ttlMs', isTtl, TTL_WHAT)),
  }));
  post('renew', (b) => ({
    ok: store.renewLeader(field(b, 'name', isName, NAME_WHAT), field(b, 'ttlMs', isTtl, TTL_WHAT)),
  }));
  post('release', (b) => ({ ok: store.releaseLeader(field(b, 'name', isName, NAME_WHAT)) }));
  post('touch-member', (b) => {
    store.touchMember(field(b, 'name', isName, NAME_WHAT), field(b, 'data', isObject, 'a JSON object'), field(b, 'ttlMs', isTtl, TTL_WHAT));
    return {};
  });
  post('delete-member', (b) => {
    store.deleteMember(field(b, 'name', isName, NAME_WHAT));
    return {};
  });
  post('set-doc', (b) => {
    const key = field(b, 'key', isKey, `one of ${DOC_KEYS.join(', ')}`);
    if (!('value' in b)) throw new ApiError(400, 'field "value" is missing');
    const ev = b.expectedVersion;
    if (ev !== undefined && ev !== null && typeof ev !== 'string') throw new ApiError(400, 'field "expectedVersion" must be a string, null or absent');
    return { ok: store.setDoc(key, b.value, ev) };
  });
  post('delete-doc', (b) => {
    const key = field(b, 'key', isKey, `one of ${DOC_KEYS.join(', ')}`);
    const ev = b.expectedVersion;
    if (ev !== undefined && !isString(ev)) throw new ApiError(400, 'field "expectedVersion" must be a string or absent');
    return { ok: store.deleteDoc(key, ev) };
  });

  api.route('GET', `${EMBEDDED_DCS_PREFIX}/wait`, (req) => {
    checkCluster(req.query.get('cluster'));
    const sinceText = req.query.get('since');
    let since: number | undefined;
    if (sinceText !== null && sinceText !== '') {
      if (!/^[0-9]{1,15}$/.test(sinceText)) throw new ApiError(400, `query "since" must be a revision number, got ${JSON.stringify(sinceText)}`);
      since = Number(sinceText);
    }
    const timeoutText = req.query.get('timeoutMs') ?? '';
    if (!/^[0-9]{1,9}$/.test(timeoutText)) throw new ApiError(400, `query "timeoutMs" must be a number of milliseconds, got ${JSON.stringify(timeoutText)}`);
    const timeoutMs = Math.min(Number(timeoutText), MAX_WAIT_MS);
    return guarded(async () => {
      const r = await store.waitForChange(since, timeoutMs);
      return { changed: r.changed };
    });
  }, READERS);
}
