/**
 * HTTPS at the edge with real clients (curl, openssl s_client, node's https): certificates from
 * the cluster CA and from files (SNI), TLS 1.2/1.3 only, HSTS, the redirect from plain HTTP,
 * handshake metrics, and a certificate file rotated under a bounded load with no failed request.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { ClusterCa } from '../../src/control-plane/certs/index.js';
import { FilesCertificateSource } from '../../src/control-plane/certs/files-source.js';
import { CertificateStore } from '../../src/data-plane/tls/index.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { HttpBackend } from '../harness/backends.js';
import { startEdge, type RunningEdge } from '../harness/edge-fixture.js';
import { eventually } from '../harness/eventually.js';
import { HOST } from '../harness/ports.js';

function run(file: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
    child.stdin?.end(input);
  });
}

/** The serial number of the certificate a TLS client gets for `servername`. */
function servedSerial(port: number, ca: string, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: HOST, port, path: '/', ca, servername, agent: false }, (res) => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
      res.resume();
      res.on('end', () => resolve(cert!.serialNumber));
    });
    req.on('error', reject);
  });
}

describe('HTTPS at the edge', { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-tls-'));
  let ca: ClusterCa;
  let backend: HttpBackend;
  const registry = new Registry();

  before(async () => {
    ca = await ClusterCa.ensure(path.join(dir, 'pki'), 'tls-test');
    backend = await HttpBackend.start('a');
  });
  after(async () => {
    backend.server.closeAllConnections();
    backend.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('a certificate from the cluster CA', () => {
    let e: RunningEdge;
    const store = new CertificateStore();
    before(async () => {
      const issued = await ca.issue({ commonName: 'edge', names: [HOST, 'localhost'], usage: 'server', days: 90 });
      store.set([{ certPem: issued.certPem, keyPem: issued.keyPem, source: 'cluster CA' }]);
      e = await startEdge((port) => ({
        tls: { source: 'local', hsts: '1d' },
        frontends: [{ name: 'www', port, https_port: port + 1, default_backend: 'app' }],
        backends: [{ name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] }],
      }), { certificates: store, registry });
    });
    after(() => e.stop());

    it('serves HTTPS that curl trusts with --cacert, with HSTS', async () => {
      const r = await run('curl', ['-sS', '-D', '-', '--http1.1', '--cacert', ca.certPath, `https://${HOST}:${e.port + 1}/hello`]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^HTTP\/1\.1 200 OK/);
      assert.match(r.out, /strict-transport-security: max-age=86400\r\n/);
      assert.match(r.out, /x-server: a/);
      // x-forwarded-proto tells the app the client used HTTPS.
      assert.equal(backend.seen.at(-1)!.headers['x-forwarded-proto'], 'https');
      const untrusted = await run('curl', ['-sS', `https://${HOST}:${e.port + 1}/`]);
      assert.notEqual(untrusted.code, 0, 'without the CA curl must refuse the certificate');
    });

    it('redirects plain HTTP to HTTPS permanently, but not ACME challenges; no HSTS over plain HTTP', async () => {
      const r = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-H', 'host: shop.example:8080', `http://${HOST}:${e.port}/cart?x=1`]);
      assert.match(r.out, /^HTTP\/1\.1 308 Permanent Redirect/);
      assert.match(r.out, new RegExp(`location: https://shop\\.example:${e.port + 1}/cart\\?x=1\\r\\n`));
      assert.doesNotMatch(r.out, /strict-transport-security/);
      const acme = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', `http://${HOST}:${e.port}/.well-known/acme-challenge/token`]);
      assert.match(acme.out, /^HTTP\/1\.1 200 OK/, 'the challenge path reaches the backend');
    });

    it('speaks TLS 1.2 and 1.3 only', async () => {
      const probe = (v: string) => run('openssl', ['s_client', `-${v}`, '-connect', `${HOST}:${e.port + 1}`, '-CAfile', ca.certPath], 'Q\n');
      for (const v of ['tls1', 'tls1_1']) {
        const r = await probe(v);
        assert.match(r.out, /alert protocol version|no protocols available|unsupported protocol/i, `${v} must be refused:\n${r.out}`);
      }
      for (const [v, proto] of [['tls1_2', 'TLSv1.2'], ['tls1_3', 'TLSv1.3']]) {
        const r = await probe(v!);
        assert.match(r.out, new RegExp(`(Protocol *: ${proto.replace('.', '\\.')}|New, ${proto.replace('.', '\\.')})`), r.out);
        assert.match(r.out, /Verify return code: 0 \(ok\)/);
      }
      const text = await registry.metrics();
      assert.match(text, /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.2",alpn="none"\} [1-9]/);
      assert.match(text, /bulwark_tls_handshakes_total\{frontend="www",protocol="TLSv1\.3",alpn="http\/1\.1"\} [1-9]/);
      assert.match(text, /bulwark_tls_handshake_failures_total\{frontend="www",reason="unsupported protocol"\} [1-9]/);
      // Seconds until notAfter: a 90-day certificate issued a moment ago.
      assert.match(text, /bulwark_tls_certificate_expiry_seconds\{certificate="127\.0\.0\.1",source="cluster CA"\} 77\d{5}\n/);
    });

    it('refuses a suite outside the intermediate profile (CBC with SHA-1 MACs, no forward secrecy)', async () => {
      const before = (await registry.metrics()).match(/bulwark_tls_handshake_failures_total\{frontend="www",reason="no shared cipher"\} (\d+)/)?.[1] ?? '0';
      const r = await run('openssl', ['s_client', '-tls1_2', '-cipher', 'AES128-SHA', '-connect', `${HOST}:${e.port + 1}`, '-CAfile', ca.certPath], 'Q\n');
      assert.match(r.out, /handshake failure|no shared cipher/i, r.out);
      assert.doesNotMatch(r.out, /Cipher is AES128-SHA|Cipher *: AES128-SHA/, r.out);
      // The same client with an intermediate suite gets through, so the suite is what was refused.
      const ok = await run('openssl', ['s_client', '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256', '-connect', `${HOST}:${e.port + 1}`, '-CAfile', ca.certPath], 'Q\n');
      assert.match(ok.out, /Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/, ok.out);
      await eventually(async () => {
        const now = (await registry.metrics()).match(/bulwark_tls_handshake_failures_total\{frontend="www",reason="no shared cipher"\} (\d+)/)?.[1];
        assert.equal(Number(now), Number(before) + 1);
      });
    });

    it('sends no Strict-Transport-Security with hsts: false', async () => {
      const off = await startEdge((port) => ({
        tls: { source: 'local', hsts: false },
        frontends: [{ name: 'www', port, https_port: port + 1, default_backend: 'app' }],
        backends: [{ name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] }],
      }), { certificates: store });
      try {
        const r = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '--cacert', ca.certPath, `https://${HOST}:${off.port + 1}/`]);
        assert.match(r.out, /^HTTP\/\S+ 200/, r.out);
        assert.doesNotMatch(r.out, /strict-transport-security/i);
      } finally {
        await off.stop();
      }
    });

    it('resumes sessions', async () => {
      const sess = path.join(dir, 'session.pem');
      await run('openssl', ['s_client', '-tls1_2', '-connect', `${HOST}:${e.port + 1}`, '-CAfile', ca.certPath, '-sess_out', sess], 'Q\n');
      const again = await run('openssl', ['s_client', '-tls1_2', '-connect', `${HOST}:${e.port + 1}`, '-CAfile', ca.certPath, '-sess_in', sess], 'Q\n');
      assert.match(again.out, /^Reused, TLSv1\.2/m);
    });
  });

  describe('certificates from files', () => {
    let e: RunningEdge;
    const store = new CertificateStore();
    let source: FilesCertificateSource;
    const write = async (name: string): Promise<void> => {
      const c = await ca.issue({ commonName: name, names: [name], usage: 'server', days: 30 });
      // Key first, then the certificate: a poll between the two writes sees a mismatched pair
      // at worst, which is refused (and the previous pair kept).
      fs.writeFileSync(path.join(dir, `${name}.key`), c.keyPem);
      fs.writeFileSync(path.join(dir, `${name}.crt`), c.certPem);
    };
    before(async () => {
      await write('a.test');
      await write('b.test');
      const pairs = ['a.test', 'b.test'].map((n) => ({ cert: path.join(dir, `${n}.crt`), key: path.join(dir, `${n}.key`) }));
      source = new FilesCertificateSource(pairs, store, systemClock, silentLogger(), 100);
      source.start();
      e = await startEdge((port) => ({
        tls: { source: 'files', certificates: pairs },
        frontends: [{ name: 'www', port, https_port: port + 1, redirect_to_https: false, default_backend: 'app' }],
        backends: [{ name: 'app', servers: [{ name: 'a', address: `${HOST}:${backend.port}` }] }],
      }), { certificates: store });
    });
    after(async () => {
      source.stop();
      await e.stop();
    });

    it('picks the certificate by SNI, and the first one without SNI', async () => {
      const subject = async (args: string[]): Promise<string> => /subject=.*CN ?= ?([a-z.]+)/.exec((await run('openssl', ['s_client', '-connect', `${HOST}:${e.port + 1}`, ...args], 'Q\n')).out)?.[1] ?? '';
      assert.equal(await subject(['-servername', 'b.test']), 'b.test');
      assert.equal(await subject(['-servername', 'a.test']), 'a.test');
      assert.equal(await subject(['-noservername']), 'a.test');
    });

    it('serves a rotated file from the next handshake, with no failed request under load', async () => {
      const before = await servedSerial(e.port + 1, ca.certPem, 'b.test');
      let ok = 0;
      const failures: string[] = [];
      let stop = false;
      const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: ca.certPem, servername: 'b.test' });
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 5000 && !stop; i++) {
          await new Promise<void>((resolve) => {
            // A fresh connection every tenth request, so handshakes happen throughout the rotation.
            const req = https.get({ host: HOST, port: e.port + 1, path: '/', agent: i % 10 === 0 ? false : agent, ca: ca.certPem, servername: 'b.test' }, (res) => {
              res.resume();
              res.on('end', () => {
                if (res.statusCode === 200) ok++;
                else failures.push(`HTTP ${res.statusCode}`);
                resolve();
              });
            });
            req.on('error', (err) => {
              failures.push(err.message);
              resolve();
            });
          });
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      await eventually(() => assert.ok(ok > 100), { timeoutMs: 10_000 });
      await write('b.test');
      const after = await eventually(async () => {
        const s = await servedSerial(e.port + 1, ca.certPem, 'b.test');
        assert.notEqual(s, before);
        return s;
      }, { timeoutMs: 5000 });
      const okAtSwap = ok;
      await eventually(() => assert.ok(ok > okAtSwap + 100), { timeoutMs: 10_000 });
      stop = true;
      await Promise.all(workers);
      agent.destroy();
      assert.deepEqual(failures, []);
      assert.equal(new X509Certificate(fs.readFileSync(path.join(dir, 'b.test.crt'))).serialNumber, after);
    });

    it('keeps serving the previous certificates when a changed file does not load', async () => {
      const before = await servedSerial(e.port + 1, ca.certPem, 'a.test');
      fs.writeFileSync(path.join(dir, 'a.test.crt'), 'not a certificate\n');
      await eventually(() => assert.match(source.lastError ?? '', /a\.test\.crt/));
      assert.equal(await servedSerial(e.port + 1, ca.certPem, 'a.test'), before);
    });
  });
});
