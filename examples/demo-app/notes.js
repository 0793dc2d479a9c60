/**
 * Notes, stored in PostgreSQL through the node's database router:
 *   DATABASE_URL      → the read-write port (always the current primary)
 *   DATABASE_READ_URL → the read-only port (replicas within the lag limit, else the primary)
 * A note is acknowledged (201) only after COMMIT returned on the primary. Every answer says which
 * web node and which database member served it.
 */
import pg from 'pg';

const WRITE_URL = process.env.DATABASE_URL || null;
const READ_URL = process.env.DATABASE_READ_URL || WRITE_URL;
const MAX_TEXT = 10_000;

/**
 * Bulwark's URLs ask for TLS the libpq way (sslmode=verify-ca, sslrootcert=the cluster CA: the
 * router hands the connection to a member whose certificate names the member, not the router's
 * address). node-postgres reads sslmode=verify-ca as verify-full unless the URL also says
 * uselibpqcompat=true, so say it.
 */
function libpqSemantics(url) {
  const u = new URL(url);
  if (u.searchParams.has('sslmode')) u.searchParams.set('uselibpqcompat', 'true');
  return u.toString();
}

function pool(url) {
  if (!url) return null;
  const p = new pg.Pool({ connectionString: libpqSemantics(url), max: 8, connectionTimeoutMillis: 2000, idleTimeoutMillis: 30_000, query_timeout: 10_000 });
  // An idle connection cut by the router (demoted or dead primary) errors here and leaves the pool.
  p.on('error', () => {});
  return p;
}

/**
 * The connection failed, not the statement: cut by the router after a failover (the cut can reach
 * us just after the pool handed the connection out), or the server shutting down.
 */
const BROKEN_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE']);
function brokenConnection(err) {
  return BROKEN_CODES.has(err.code) || /connection terminated|connection error/i.test(err.message ?? '');
}

/**
 * A read is idempotent: on a broken connection it runs once more. pool.query discards a
 * connection whose query failed, so the retry gets another one (new, or idle and healthy).
 * Writes are not retried: a cut connection leaves a commit's fate unknown, and only the client
 * may decide to write again.
 */
async function read(p, sql, params) {
  try {
    return await p.query(sql, params);
  } catch (err) {
    if (!brokenConnection(err)) throw err;
    return p.query(sql, params);
  }
}

const rw = pool(WRITE_URL);
const ro = pool(READ_URL);
let schema;

/**
 * Create the table once. Concurrent CREATE TABLE IF NOT EXISTS (two web nodes, or two requests)
 * can still collide in the catalog (unique violation / duplicate table): the table then exists.
 */
function ensureSchema() {
  schema ??= rw.query(`CREATE TABLE IF NOT EXISTS notes (
      id bigserial PRIMARY KEY, text text NOT NULL, web_node text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
    .catch((err) => {
      if (err.code === '23505' || err.code === '42P07') return;
      schema = undefined;
      throw err;
    });
  return schema;
}

/** Which member answered: cluster_name is set to the member name on every db node. */
const MEMBER_SQL = "current_setting('cluster_name') AS member, pg_is_in_recovery() AS replica";

export function registerNotes(route, { node, sendJson, readBody }) {
  const unavailable = (res) => sendJson(res, 503, { error: 'no database configured (DATABASE_URL is not set)', node });
  const dbError = (res, err) => sendJson(res, 503, { error: `database unavailable: ${err.message}`, code: err.code ?? null, node });

  route('POST', '/api/notes', async ({ req, res }) => {
    if (!rw) return unavailable(res);
    let body;
    try {
      body = JSON.parse((await readBody(req, MAX_TEXT * 4)).toString('utf8'));
    } catch (err) {
      return sendJson(res, 400, { error: `body must be JSON {"text": "..."}: ${err.message}` });
    }
    if (!body || typeof body.text !== 'string' || body.text.length === 0 || body.text.length > MAX_TEXT) {
      return sendJson(res, 400, { error: `"text" must be a non-empty string of at most ${MAX_TEXT} characters` });
    }
    try {
      await ensureSchema();
      const r = await rw.query(`INSERT INTO notes (text, web_node) VALUES ($1, $2) RETURNING id, created_at, ${MEMBER_SQL}`, [body.text, node]);
      const row = r.rows[0];
      sendJson(res, 201, { id: Number(row.id), text: body.text, createdAt: row.created_at, node, db: row.member });
    } catch (err) {
      dbError(res, err);
    }
  });

  route('GET', '/api/notes/:id', async ({ res, params }) => {
    if (!rw) return unavailable(res);
    if (!/^\d{1,18}$/.test(params.id)) return sendJson(res, 400, { error: 'id must be a positive integer' });
    try {
      await ensureSchema();
      const r = await read(rw, `SELECT id, text, web_node, created_at, ${MEMBER_SQL} FROM notes WHERE id = $1`, [params.id]);
      if (r.rows.length === 0) return sendJson(res, 404, { error: `no note ${params.id}`, node });
      const row = r.rows[0];
      sendJson(res, 200, { id: Number(row.id), text: row.text, writtenBy: row.web_node, createdAt: row.created_at, node, db: row.member });
    } catch (err) {
      dbError(res, err);
    }
  });

  route('GET', '/api/notes', async ({ res, url }) => {
    if (!ro) return unavailable(res);
    const limit = Number(url.searchParams.get('limit') ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return sendJson(res, 400, { error: 'limit must be an integer from 1 to 1000' });
    try {
      const r = await read(ro,
        `SELECT coalesce(json_agg(n ORDER BY n.id DESC), '[]') AS notes, ${MEMBER_SQL}
           FROM (SELECT id, text, web_node AS "writtenBy", created_at AS "createdAt" FROM notes ORDER BY id DESC LIMIT $1) n`,
        [limit]);
      sendJson(res, 200, { notes: r.rows[0].notes, node, db: r.rows[0].member, replica: r.rows[0].replica });
    } catch (err) {
      if (err.code === '42P01') return sendJson(res, 200, { notes: [], node, db: null }); // no note written yet
      dbError(res, err);
    }
  });
}

export async function closeNotes() {
  await Promise.allSettled([rw?.end(), ro !== rw ? ro?.end() : undefined]);
}
