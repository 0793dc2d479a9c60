/**
 * The embedded DCS over HTTPS: the store mounted on a real AgentApi on 127.0.0.1 (persisting to a
 * file), EmbeddedDcsClient talking to it. The shared contract, then restarts from the file, bad
 * requests and a server that never answers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AgentApi } from '../../src/control-plane/agent-api/server.js';
import { AgentClient } from '../../src/control-plane/agent-api/index.js';
import { TestPki } from '../harness/agent-tls.js';
import { isBulwarkError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import {
  DcsUnavailableError,
  EmbeddedDcsClient,
  EmbeddedDcsStore,
  mountEmbeddedDcs,
} from '../../src/control-plane/pg-ha/dcs/index.js';
import { HOST, listenOnFreePort, randomPort } from '../harness/ports.js';
import { dcsContract } from '../unit/dcs-contract.js';

const CLUSTER = 'http-test';
const TIMEOUT_MS = 1000;
// The store's API speaks mutual TLS like every agent API; members call it with db certificates.
const pki = new TestPki(CLUSTER);
const serverCreds = pki.node('dcs-host', 'monitor', HOST);
const memberClient = (async () => new AgentClient(await pki.node('db-test', 'db', HOST)))();
after(() => pki.remove());

interface Served {
  readonly store: EmbeddedDcsStore;
  readonly api: AgentApi;
  readonly port: number;
  stop(): Promise<void>;
}

/** A store (from `file`) on a fresh AgentApi; on `port` when given, else a free one. */
async function serve(file: string, port?: number): Promise<Served> {
  const store = new EmbeddedDcsStore({ cluster: CLUSTER, file });
  const api = new AgentApi(silentLogger());
  mountEmbeddedDcs(api, store);
  for (let attempt = 0; ; attempt++) {
    const p = port ?? randomPort();
    try {
      await api.listen(HOST, p, await serverCreds);
      return {
        store,
        api,
        port: p,
        stop: async () => {
          store.close();
          await api.close();
        },
      };
    } catch (err) {
      if (port !== undefined || attempt >= 20 || !isBulwarkError(err)) {
        store.close();
        throw err;
      }
    }
  }
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-dcs-http-'));
}

async function client(port: number, cluster = CLUSTER): Promise<EmbeddedDcsClient> {
  return new EmbeddedDcsClient({ baseUrl: `https://${HOST}:${port}`, cluster, timeoutMs: TIMEOUT_MS, agents: await memberClient });
}

dcsContract('DCS contract: embedded store over HTTP', async () => {
  const dir = tempDir();
  const served = await serve(path.join(dir, 'dcs.json'));
  const dcs = await client(served.port);
  const other = await client(served.port);
  let stopped = false;
  return {
    dcs,
    other,
    timeoutMs: TIMEOUT_MS,
    stop: async () => {
      stopped = true;
      await served.stop();
    },
    cleanup: async () => {
      await dcs.close();
      await other.close();
      if (!stopped) await served.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded DCS over HTTP: restarts, bad requests, silence', () => {
  it('a restart of the serving process from its file keeps the lock, the members and the docs', async (t) => {
    const dir = tempDir();
    const file = path.join(dir, 'dcs.json');
    let served = await serve(file);
    const port = served.port;
    const holder = await client(port);
    const replica = await client(port);
    try {
      assert.equal(await holder.acquireLeader('db-1', 10_000), true);
      await holder.touchMember('db-1', { role: 'primary' }, 10_000);
      await replica.touchMember('db-2', { role: 'replica' }, 10_000);
      assert.equal(await holder.setDoc('initialize', { sysid: '7301' }, null), true);
      const before = await replica.read();

      await served.stop();
      await assert.rejects(holder.renewLeader('db-1', 10_000), DcsUnavailableError);
      const waiting = replica.waitForChange(60_000); // spans the restart; must not reject

      const restarted = Date.now();
      served = await serve(file, port);
      t.diagnostic(`store restarted from its file in ${Date.now() - restarted} ms`);
      const after = await replica.read();
      assert.deepEqual(after, before, 'same lock (same version), members and docs after the restart');
      assert.equal(await holder.renewLeader('db-1', 10_000), true, 'the holder keeps its lock');
      assert.equal(await replica.acquireLeader('db-2', 10_000), false, 'nobody else can take it');
      assert.equal(await holder.setDoc('initialize', { sysid: 'other' }, null), false);
      await replica.close();
      await waiting;
    } finally {
      await holder.close();
      await replica.close();
      await served.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad requests get 400 naming the field; another cluster gets 409 and a plain Error', async () => {
    const dir = tempDir();
    const served = await serve(path.join(dir, 'dcs.json'));
    const target = { address: HOST, agentPort: served.port };
    const agents = await memberClient;
    const post = async (route: string, body: unknown): Promise<{ status: number; error: string }> => {
      const res = await agents.json<{ error: string }>(target, `/dcs/v1/${route}`, { method: 'POST', body, timeoutMs: TIMEOUT_MS });
      return { status: res.status, error: res.body.error };
    };
    try {
      let r = await post('acquire', { cluster: CLUSTER, name: 'db-1' });
      assert.equal(r.status, 400);
      assert.match(r.error, /"ttlMs"/);
      r = await post('acquire', { cluster: CLUSTER, name: '../etc', ttlMs: 1000 });
      assert.equal(r.status, 400);
      assert.match(r.error, /"name"/);
      r = await post('set-doc', { cluster: CLUSTER, key: 'sync' });
      assert.equal(r.status, 400);
      assert.match(r.error, /"value"/);
      r = await post('set-doc', { cluster: CLUSTER, key: 'passwords', value: 1 });
      assert.equal(r.status, 400);
      assert.match(r.error, /"key"/);
      r = await post('set-doc', { cluster: CLUSTER, key: 'sync', value: 1, expectedVersion: 7 });
      assert.equal(r.status, 400);
      r = await post('touch-member', { cluster: CLUSTER, name: 'db-1', data: [1], ttlMs: 1000 });
      assert.equal(r.status, 400);
      assert.match(r.error, /"data"/);
      r = await post('acquire', { name: 'db-1', ttlMs: 1000 });
      assert.equal(r.status, 400);
      assert.match(r.error, /cluster/);
      const wait = await agents.request(target, `/dcs/v1/wait?cluster=${CLUSTER}&timeoutMs=soon`, { timeoutMs: TIMEOUT_MS });
      assert.equal(wait.status, 400);

      const stranger = await client(served.port, 'someone-else');
      await assert.rejects(stranger.acquireLeader('db-1', 1000), (err: Error) => {
        assert.ok(!(err instanceof DcsUnavailableError), 'a wrong cluster is a configuration error, not an outage');
        assert.match(err.message, /HTTP 409.*serves cluster "http-test", not "someone-else"/);
        return true;
      });
      await stranger.close();
      assert.equal((await (await client(served.port)).read()).leader, undefined, 'nothing was written');

      // An agent API without the DCS mounted: a plain Error naming the 404.
      const bare = new AgentApi(silentLogger());
      const barePort = await listenBare(bare);
      const lost = await client(barePort);
      await assert.rejects(lost.read(), (err: Error) => !(err instanceof DcsUnavailableError) && /HTTP 404/.test(err.message));
      await lost.close();
      await bare.close();
    } finally {
      await served.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server that accepts but never answers: DcsUnavailableError after the timeout; waits do not reject', async (t) => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    const port = await listenOnFreePort(silent);
    const c = await client(port);
    try {
      const started = performance.now();
      await assert.rejects(c.acquireLeader('db-1', 1000), (err: Error) => {
        assert.ok(err instanceof DcsUnavailableError);
        assert.match(err.message, /no answer within 1000 ms/);
        return true;
      });
      const ms = performance.now() - started;
      t.diagnostic(`silent server: acquireLeader rejected after ${ms.toFixed(0)} ms (timeout ${TIMEOUT_MS} ms)`);
      assert.ok(ms >= TIMEOUT_MS - 20 && ms < TIMEOUT_MS + 500, `rejected after ${ms} ms`);
      const w0 = performance.now();
      await c.waitForChange(300);
      assert.ok(performance.now() - w0 >= 290);
    } finally {
      await c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

async function listenBare(api: AgentApi): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const p = randomPort();
    try {
      await api.listen(HOST, p, await serverCreds);
      return p;
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}
