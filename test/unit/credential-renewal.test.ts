/**
 * A running node keeps its own certificate current: the renewal asks every hour and hands a
 * changed pair on (decision logic on a manual clock), and the agent API server, the agent client
 * pool and the health-check probes take a renewed pair for new connections without a restart
 * (real TLS on loopback).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { AgentApi, AgentClient, MEMBERS } from '../../src/control-plane/agent-api/index.js';
import { CredentialRenewal, nodeCertPaths, type TlsCredentials } from '../../src/control-plane/certs/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { httpProbe, ProbeTls } from '../../src/data-plane/health/index.js';
import { TestPki } from '../harness/agent-tls.js';
import { closedPort } from '../harness/ports.js';

const HOUR = 3_600_000;
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const pair = (tag: string): TlsCredentials => ({ ca: 'ca', cert: `cert-${tag}`, key: `key-${tag}`, certPath: `/pki/${tag}` });

describe('credential renewal: when it asks and what it hands on', () => {
  it('asks once an hour, tells once per change, and keeps the pair in use when it cannot renew', async () => {
    const clock = new ManualClock(0);
    const answers: (TlsCredentials | Error)[] = [pair('a'), pair('b'), new Error('no CA key here'), pair('b'), pair('c')];
    let asked = 0;
    const told: string[] = [];
    const r = new CredentialRenewal({
      initial: pair('a'), clock, log: silentLogger(),
      fetch: async () => {
        const next = answers[asked++]!;
        if (next instanceof Error) throw next;
        return next;
      },
      onChange: (next) => void told.push(next.cert),
    });
    r.start();
    // The check is async: let it settle (and re-arm the timer) after each hour.
    const hour = async (): Promise<void> => {
      clock.advance(HOUR);
      for (let i = 0; i < 10; i++) await Promise.resolve();
    };
    clock.advance(HOUR - 1);
    assert.equal(asked, 0, 'not before the hour');
    await hour();
    assert.equal(asked, 1);
    assert.deepEqual(told, [], 'the same pair: nobody is told');
    await hour();
    assert.deepEqual(told, ['cert-b']);
    await hour();
    assert.equal(r.credentials.cert, 'cert-b', 'a failed renewal keeps the pair in use');
    await hour();
    assert.deepEqual(told, ['cert-b'], 'b again is no change');
    r.stop();
    await hour();
    assert.equal(asked, 4, 'stopped: no more asking');
  });
});

describe('credential renewal: a renewed certificate is served and presented without a restart', () => {
  const pki = new TestPki();
  const spec = { stateDir: pki.stateDir, cluster: pki.cluster };
  let first: TlsCredentials;
  let second: TlsCredentials;

  before(async () => {
    first = await pki.node('db-1', 'db', '127.0.0.1');
    // The pair is gone (an operator replaced it, or it aged out): the CA issues a new one.
    for (const f of Object.values(nodeCertPaths(spec, 'db-1'))) fs.rmSync(f);
    second = await pki.node('db-1', 'db', '127.0.0.1');
    assert.notEqual(fingerprint(first.cert), fingerprint(second.cert));
  });
  after(() => pki.remove());

  it('the agent API serves the renewed certificate on new connections', async () => {
    const port = await closedPort();
    const api = new AgentApi(silentLogger());
    api.route('GET', '/ping', () => ({ status: 200, body: { ok: true } }), MEMBERS);
    await api.listen('127.0.0.1', port, first);
    const admin = await pki.admin();
    const served = (): Promise<string> => new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: admin.ca, cert: admin.cert, key: admin.key }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.once('error', reject);
    });
    try {
      assert.equal(await served(), fingerprint(first.cert));
      api.setCredentials(second);
      assert.equal(await served(), fingerprint(second.cert));
      const client = new AgentClient(admin);
      assert.equal((await client.json({ address: '127.0.0.1', agentPort: port }, '/ping', { timeoutMs: 2000 })).status, 200);
      client.close();
    } finally {
      await api.close();
    }
  });

  it('the agent client and the health-check probes present the renewed certificate', async () => {
    // A peer that answers with the fingerprint of the certificate its caller presented, with
    // 200 when it is the one expected (the probe sees only the status).
    let expected = fingerprint(first.cert);
    const peer = https.createServer({ ca: first.ca, cert: first.cert, key: first.key, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const got = (req.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.writeHead(got === expected ? 200 : 403).end(got);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const port = (peer.address() as AddressInfo).port;
    const client = new AgentClient(first);
    const probeTls = new ProbeTls(first);
    const probe = httpProbe({ host: '127.0.0.1', port, path: '/', timeoutMs: 2000, expectStatus: [200], tls: probeTls });
    const presented = async (): Promise<string> => (await client.request({ address: '127.0.0.1', agentPort: port }, '/', { timeoutMs: 2000 })).text;
    try {
      assert.equal(await presented(), fingerprint(first.cert));
      assert.equal((await probe(new AbortController().signal)).ok, true);
      expected = fingerprint(second.cert);
      client.setCredentials(second);
      assert.equal(await presented(), fingerprint(second.cert));
      assert.equal((await probe(new AbortController().signal)).ok, false, 'the probe still presents the first pair');
      probeTls.update(second);
      assert.equal((await probe(new AbortController().signal)).ok, true, 'the probe presents the renewed pair');
    } finally {
      client.close();
      peer.closeAllConnections();
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  });
});
