/**
 * PostgreSQL over TLS through the whole stack: `bulwark up` a cluster (lb, web, two db members,
 * monitor on 127.0.12.x), then look at the connections from the server's side (pg_stat_ssl):
 * the replica streams over TLS with its node certificate, the app's connections through the db
 * router are TLS, plain text is refused by pg_hba wherever it comes from, and a client trusting
 * another CA (or replicating without a cluster certificate) gets nowhere.
 */
import { execFile } from 'node:child_process';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { agentCall, TestPki } from '../harness/agent-tls.js';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const PSQL = '/usr/lib/postgresql/15/bin/psql';
const skip = skipUnlessCi(missing({ root: true, tools: [PSQL], why: 'PostgreSQL TLS through the stack (members bind 127.0.12.x; psql checks the URL as libpq reads it)' }), 'cluster-db-tls');

const AGENT = 17712;
const PG_PORT = 15442;
const RW = 16442;
const EDGE = 'http://127.0.12.100:18092';
const WEB = { name: 'web-1', address: '127.0.12.11' };
const MEMBERS = { 'db-1': '127.0.12.21', 'db-2': '127.0.12.22' } as const;
/** On no node, so no pg_hba row names it. */
const STRANGER = '127.0.12.99';
type Member = keyof typeof MEMBERS;

const yaml = `
cluster: db-tls-test
state_dir: state
agent: { port: ${AGENT} }
nodes:
  - { name: lb-1,  role: lb,      address: 127.0.12.1 }
  - { name: web-1, role: web,     address: ${WEB.address} }
  - { name: db-1,  role: db,      address: ${MEMBERS['db-1']} }
  - { name: db-2,  role: db,      address: ${MEMBERS['db-2']} }
  - { name: mon-1, role: monitor, address: 127.0.12.31 }
web:
${demoAppYaml(13012)}edge:
  vip: 127.0.12.100
  frontends: [ { name: www, port: 18092, routes: [ { path_prefix: /, backend: app } ] } ]
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }
      servers: [ { node: web-1 } ]
database:
  mode: sync
  port: ${PG_PORT}
  router: { rw_port: ${RW}, ro_port: 16443 }
`;

/** A pg client that cannot surface an error except through the call that fails. */
function client(config: pg.ClientConfig): pg.Client {
  const c = new pg.Client({ connectionTimeoutMillis: 5000, ...config });
  c.on('error', () => undefined);
  return c;
}

async function query<R extends pg.QueryResultRow>(config: pg.ClientConfig, sql: string): Promise<R[]> {
  const c = client(config);
  await c.connect();
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Connect and fail: the error's message. */
async function refusal(config: pg.ClientConfig): Promise<string> {
  const c = client(config);
  try {
    await c.connect();
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
  assert.fail(`connected to ${config.host}:${config.port} as ${config.user}, but should have been refused`);
}

/** psql (libpq, what the walreceiver uses) with a conninfo; the password from the environment. */
function psql(conninfo: string, sql: string, password?: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(PSQL, [conninfo, '-Atc', sql], { timeout: 10_000, env: { PATH: process.env.PATH ?? '', ...(password !== undefined && { PGPASSWORD: password }) } },
      (err, stdout, stderr) => resolve({ ok: !err, out: err ? `${stderr}${err.message}` : stdout.trim() }));
  });
}

/** A TCP socket for node-postgres that leaves from `localAddress` (a client on another host). */
function fromAddress(localAddress: string): () => net.Socket {
  return () => {
    const s = new net.Socket();
    const connect = s.connect.bind(s) as (o: net.TcpSocketConnectOpts) => net.Socket;
    (s as unknown as { connect: (port: number, host: string) => net.Socket }).connect = (port, host) => connect({ port, host, localAddress });
    return s;
  };
}

describe('PostgreSQL TLS: replication, the app through the router, refusals', { skip, timeout: 240_000 }, () => {
  const c = tempCluster(yaml);
  const stateDir = path.join(c.dir, 'state');
  const other = new TestPki('someone-else');
  const memberDir = (m: Member): string => path.join(stateDir, 'nodes', m, 'pg');
  const secret = (m: Member, name: string): string => fs.readFileSync(path.join(memberDir(m), 'secrets', `${name}.password`), 'utf8').trim();
  /** The superuser over the member's own socket (peer authentication: we are root, mapped). */
  const superuser = (m: Member): pg.ClientConfig => ({ host: path.join(memberDir(m), 'run'), port: PG_PORT, user: 'postgres', database: 'postgres' });
  const caPem = (): string => fs.readFileSync(path.join(stateDir, 'pki', 'ca.crt'), 'utf8');
  let primary: Member;
  let replica: Member;

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
    // A primary, and a replica streaming from it.
    [primary, replica] = await eventually(async () => {
      const roles = await Promise.all((Object.keys(MEMBERS) as Member[]).map(async (m) => {
        const s = await agentCall<{ db: { role: string; holdsLock: boolean; streamingFrom: string | null } }>(stateDir, { address: MEMBERS[m], agentPort: AGENT }, 'GET', '/status', undefined, 1000);
        return [m, s.body.db] as const;
      }));
      const p = roles.find(([, s]) => s.role === 'primary' && s.holdsLock)?.[0];
      const r = roles.find(([, s]) => s.role === 'replica' && s.streamingFrom === p)?.[0];
      assert.ok(p && r, `members: ${JSON.stringify(roles)}`);
      return [p, r] as const;
    }, { timeoutMs: 90_000, intervalMs: 250, message: 'waiting for a primary and a streaming replica' });
  });

  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
    other.remove();
  });

  it('every member runs ssl = on with its node certificate, and pg_hba admits TCP over TLS only', async () => {
    for (const m of Object.keys(MEMBERS) as Member[]) {
      const [s] = await query<{ ssl: string; min: string; cert: string; key: string; ca: string }>(superuser(m),
        `SELECT current_setting('ssl') AS ssl, current_setting('ssl_min_protocol_version') AS min, current_setting('ssl_cert_file') AS cert,
                current_setting('ssl_key_file') AS key, current_setting('ssl_ca_file') AS ca`);
      assert.equal(s?.ssl, 'on');
      assert.equal(s?.min, 'TLSv1.2');
      // The copies are the node's certificate and the cluster CA, outside the data directory.
      assert.equal(fs.readFileSync(s!.cert, 'utf8'), fs.readFileSync(path.join(stateDir, 'pki', 'nodes', `${m}.crt`), 'utf8'));
      assert.equal(fs.readFileSync(s!.ca, 'utf8'), caPem());
      assert.ok(!s!.key.startsWith(path.join(memberDir(m), 'data')), 'the key lives outside the data directory');
      const key = fs.statSync(s!.key);
      assert.equal(key.mode & 0o777, 0o600);
      assert.notEqual(key.uid, 0, 'the key belongs to the service user');
      const types = await query<{ type: string; n: number }>(superuser(m), 'SELECT type, count(*)::int AS n FROM pg_hba_file_rules GROUP BY type ORDER BY type');
      assert.deepEqual(types.map((t) => t.type), ['hostssl', 'local']);
    }
  });

  it('the replica streams over TLS, verify-full, presenting its node certificate', async () => {
    const rows = await query<{ name: string; ssl: boolean; version: string; dn: string | null }>(superuser(primary),
      'SELECT r.application_name AS name, s.ssl, s.version, s.client_dn AS dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)');
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]!.name, replica);
    assert.equal(rows[0]!.ssl, true);
    assert.match(rows[0]!.version, /^TLSv1\.[23]$/);
    assert.match(rows[0]!.dn ?? '', new RegExp(`CN=${replica}\\b`), 'the walreceiver presents its node certificate');
    const [wr] = await query<{ conninfo: string; host: string }>(superuser(replica), 'SELECT conninfo, sender_host AS host FROM pg_stat_wal_receiver');
    assert.equal(wr?.host, MEMBERS[primary]);
    assert.match(wr!.conninfo, /sslmode=verify-full/);
  });

  it('the app reaches the database through the router over TLS, verify-ca against the cluster CA', async () => {
    // The URL the app really got, from its environment. An app started while the database was
    // still bootstrapping gets it when the web node restarts it with the published credentials.
    const url = await eventually(async () => {
      const web = await agentCall<{ web: { app: { pid: number } } }>(stateDir, { address: WEB.address, agentPort: AGENT }, 'GET', '/status');
      const env = fs.readFileSync(`/proc/${web.body.web.app.pid}/environ`, 'utf8').split('\0');
      const line = env.find((l) => l.startsWith('DATABASE_URL='));
      assert.ok(line, 'the app has no DATABASE_URL yet');
      return new URL(line.slice('DATABASE_URL='.length));
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(`${url.hostname}:${url.port}`, `${WEB.address}:${RW}`);
    assert.equal(url.searchParams.get('sslmode'), 'verify-ca');
    const rootcert = url.searchParams.get('sslrootcert')!;
    assert.equal(fs.readFileSync(rootcert, 'utf8'), caPem());
    assert.equal(fs.statSync(rootcert).mode & 0o004, 0o004, 'the CA copy is readable by any user the app may run as');

    // The demo app writes through it (its pool keeps the connection open for a while).
    const w = await fetch(`${EDGE}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'over tls' }) });
    assert.equal(w.status, 201, await w.text());

    // node-postgres with the URL as the demo app uses it.
    const compat = new URL(url);
    compat.searchParams.set('uselibpqcompat', 'true');
    const mine = await query<{ ssl: boolean; version: string; apps: number; tls: number }>({ connectionString: compat.toString() },
      `SELECT s.ssl, s.version,
              (SELECT count(*)::int FROM pg_stat_activity a WHERE a.usename = current_user) AS apps,
              (SELECT count(*)::int FROM pg_stat_activity a JOIN pg_stat_ssl t USING (pid) WHERE a.usename = current_user AND t.ssl) AS tls
         FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`);
    assert.equal(mine[0]?.ssl, true);
    assert.match(mine[0]!.version, /^TLSv1\.[23]$/);
    assert.ok(mine[0]!.apps >= 2, `the demo app's connection and ours: ${mine[0]!.apps}`);
    assert.equal(mine[0]!.tls, mine[0]!.apps, 'every application connection is TLS');

    // libpq (psql) with the URL exactly as given: verify-ca passes although the router's address
    // is not in the member's certificate.
    assert.deepEqual(await psql(url.toString(), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'), { ok: true, out: 't' });
  });

  it('plain text is refused by pg_hba: from a member address, from a stranger, through the router', async () => {
    const app = { user: 'app', password: secret(primary, 'app'), database: 'app', ssl: false } as const;
    // On one machine every client leaves from 127.0.0.1, an address pg_hba lists: only TLS is missing.
    assert.match(await refusal({ ...app, host: MEMBERS[primary], port: PG_PORT }), /no pg_hba\.conf entry for host "127\.0\.0\.1", user "app", database "app", no encryption/);
    assert.match(await refusal({ ...app, host: MEMBERS[primary], port: PG_PORT, stream: fromAddress(STRANGER) }), /no pg_hba\.conf entry for host "127\.0\.12\.99"/);
    assert.match(await refusal({ ...app, host: WEB.address, port: RW }), /no encryption/);
    const replication = { user: 'replicator', password: secret(primary, 'replication'), database: 'postgres', replication: true, ssl: false } as pg.ClientConfig;
    assert.match(await refusal({ ...replication, host: MEMBERS[primary], port: PG_PORT }), /no pg_hba\.conf entry for replication connection.*no encryption/);
  });

  it('a client trusting another CA fails; replication needs a certificate from the cluster CA', async () => {
    const foreign = await other.node('db-9', 'db', '127.0.0.1');
    const app = { user: 'app', password: secret(primary, 'app'), database: 'app', host: MEMBERS[primary], port: PG_PORT };
    assert.match(await refusal({ ...app, ssl: { ca: foreign.ca } }), /self[- ]signed certificate|unable to (get local issuer|verify)/);
    // The right CA, as a control: the failure above is the CA's, nothing else.
    assert.equal((await query<{ ok: number }>({ ...app, ssl: { ca: caPem() } }, 'SELECT 1 AS ok'))[0]?.ok, 1);

    // Replication as the walreceiver does it (libpq), with and without a cluster certificate.
    const foreignCert = path.join(other.stateDir, 'foreign.crt');
    const foreignKey = path.join(other.stateDir, 'foreign.key');
    fs.writeFileSync(foreignCert, foreign.cert);
    fs.writeFileSync(foreignKey, foreign.key, { mode: 0o600 });
    const rep = (cert = '', key = ''): string => `host=${MEMBERS[primary]} port=${PG_PORT} user=replicator dbname=postgres replication=true `
      + `sslmode=verify-full sslrootcert=${path.join(stateDir, 'pki', 'ca.crt')} sslcert=${cert || '/nonexistent'} sslkey=${key || '/nonexistent'}`;
    const password = secret(primary, 'replication');
    const none = await psql(rep(), 'IDENTIFY_SYSTEM', password);
    assert.equal(none.ok, false);
    assert.match(none.out, /connection requires a valid client certificate/);
    const wrong = await psql(rep(foreignCert, foreignKey), 'IDENTIFY_SYSTEM', password);
    assert.equal(wrong.ok, false);
    assert.match(wrong.out, /unknown ca|certificate verify failed/i);
    const nodeCert = (ext: string): string => path.join(stateDir, 'pki', 'nodes', `${replica}.${ext}`);
    const right = await psql(rep(nodeCert('crt'), nodeCert('key')), 'IDENTIFY_SYSTEM', password);
    assert.ok(right.ok, right.out);
    assert.match(right.out, /^\d+\|/, 'IDENTIFY_SYSTEM answers with the system identifier');
  });

  it('a renewed node certificate is served by PostgreSQL and the agent, and presented by the walreceiver, without a restart', async () => {
    const certOf = (m: Member): X509Certificate => new X509Certificate(fs.readFileSync(path.join(stateDir, 'pki', 'nodes', `${m}.crt`)));
    const renew = async (m: Member): Promise<X509Certificate> => {
      const before = certOf(m).fingerprint256;
      // The pair is gone (aged out, or replaced): this machine holds the CA key, so the agent issues a new one.
      for (const ext of ['crt', 'key']) fs.rmSync(path.join(stateDir, 'pki', 'nodes', `${m}.${ext}`));
      const r = await agentCall<{ renewed: boolean }>(stateDir, { address: MEMBERS[m], agentPort: AGENT }, 'POST', '/credentials/renew');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.renewed, true);
      const now = certOf(m);
      assert.notEqual(now.fingerprint256, before);
      return now;
    };
    const fresh = await renew(primary);
    const pgServes = async (): Promise<string> => {
      const c = client({ user: 'app', password: secret(primary, 'app'), database: 'app', host: MEMBERS[primary], port: PG_PORT, ssl: { ca: caPem() } });
      await c.connect();
      try {
        return ((c as unknown as { connection: { stream: TLSSocket } }).connection.stream).getPeerCertificate().fingerprint256;
      } finally {
        await c.end().catch(() => undefined);
      }
    };
    await eventually(async () => assert.equal(await pgServes(), fresh.fingerprint256), { timeoutMs: 10_000, intervalMs: 200, message: 'PostgreSQL serves the renewed certificate' });
    const agentServes = await new Promise<string>((resolve, reject) => {
      const admin = { ca: caPem(), cert: fs.readFileSync(path.join(stateDir, 'pki', 'admin.crt')), key: fs.readFileSync(path.join(stateDir, 'pki', 'admin.key')) };
      const sock = tlsConnect({ host: MEMBERS[primary], port: AGENT, ...admin }, () => {
        resolve(sock.getPeerCertificate().fingerprint256);
        sock.end();
      });
      sock.once('error', reject);
    });
    assert.equal(agentServes, fresh.fingerprint256, 'the agent API serves it');

    // The replica's walreceiver presents a renewed certificate from its next connection on.
    const replicaCert = await renew(replica);
    await query(superuser(primary), 'SELECT pg_terminate_backend(pid) FROM pg_stat_replication');
    await eventually(async () => {
      const rows = await query<{ serial: string | null }>(superuser(primary), 'SELECT s.client_serial::text AS serial FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)');
      assert.deepEqual(rows.map((r) => r.serial), [BigInt(`0x${replicaCert.serialNumber}`).toString()]);
    }, { timeoutMs: 20_000, intervalMs: 300, message: 'the walreceiver reconnects presenting the renewed certificate' });
  });
});
