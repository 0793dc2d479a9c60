/** The cluster CA, the certificate store's SNI choice, and the HTTPS redirect target. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ClusterCa, describeCertificate } from '../../src/control-plane/certs/index.js';
import { CertificateStore } from '../../src/data-plane/tls/index.js';
import { httpsLocation } from '../../src/data-plane/http1/canned.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-ca-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ClusterCa', () => {
  it('is created once, even by nodes starting together, with a key only its owner reads', async () => {
    const cas = await Promise.all([1, 2, 3, 4].map(() => ClusterCa.ensure(path.join(dir, 'pki'), 'c')));
    assert.equal(new Set(cas.map((c) => c.certPem)).size, 1);
    assert.equal(fs.statSync(path.join(dir, 'pki', 'ca.key')).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pki')).sort(), ['ca.crt', 'ca.key'], 'no temporary file left');
    const x = new X509Certificate(cas[0]!.certPem);
    assert.ok(x.ca);
    assert.match(x.subject, /Bulwark cluster CA \(c\)/);
  });

  it('issues certificates that chain to it, with the names asked for', async () => {
    const ca = await ClusterCa.ensure(path.join(dir, 'pki'), 'c');
    const issued = await ca.issue({ commonName: 'edge', names: ['127.0.0.1', 'localhost', '::1'], usage: 'server', days: 90 });
    const leaf = new X509Certificate(issued.certPem);
    assert.ok(leaf.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the CA');
    assert.ok(leaf.checkIssued(new X509Certificate(ca.certPem)));
    assert.deepEqual(describeCertificate(issued.certPem).names, ['127.0.0.1', 'localhost', '0:0:0:0:0:0:0:1']);
    const days = (issued.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, `${days} days`);
    assert.match(issued.certPem, /END CERTIFICATE-----\n-----BEGIN CERTIFICATE/, 'the chain includes the CA');
  });
});

describe('CertificateStore', () => {
  it('chooses by SNI: exact name, then wildcard, else the first pair', async () => {
    const ca = await ClusterCa.ensure(path.join(dir, 'pki'), 'c');
    const a = await ca.issue({ commonName: 'a', names: ['a.test'], usage: 'server', days: 1 });
    const w = await ca.issue({ commonName: 'w', names: ['*.shop.test'], usage: 'server', days: 1 });
    const store = new CertificateStore();
    store.set([{ ...pair(a), source: 'a' }, { ...pair(w), source: 'w' }]);
    assert.equal(store.contextFor('A.TEST'), store.contextFor('a.test'));
    assert.notEqual(store.contextFor('x.shop.test'), store.contextFor('a.test'));
    assert.equal(store.contextFor('x.y.shop.test'), store.contextFor(undefined), 'a wildcard covers one label only');
    assert.deepEqual(store.served().map((s) => s.source), ['a', 'w']);
  });

  it('refuses a key that does not match its certificate, and keeps what it served', async () => {
    const ca = await ClusterCa.ensure(path.join(dir, 'pki'), 'c');
    const a = await ca.issue({ commonName: 'a', names: ['a.test'], usage: 'server', days: 1 });
    const b = await ca.issue({ commonName: 'b', names: ['b.test'], usage: 'server', days: 1 });
    const store = new CertificateStore();
    store.set([{ ...pair(a), source: 'a.crt' }]);
    assert.throws(() => store.set([{ certPem: a.certPem, keyPem: b.keyPem, source: 'mixed.crt' }]), /mixed\.crt: the key does not belong to the certificate/);
    assert.throws(() => store.set([{ certPem: 'junk', keyPem: a.keyPem, source: 'junk.crt' }]), /junk\.crt:/);
    assert.deepEqual(store.served().map((s) => s.source), ['a.crt']);
  });
});

describe('httpsLocation', () => {
  it('keeps the host and target, swaps the port (omitted for 443)', () => {
    assert.equal(httpsLocation('shop.example:8080', '10.0.0.1', 8443, '/a?b=1'), 'https://shop.example:8443/a?b=1');
    assert.equal(httpsLocation('shop.example', '10.0.0.1', 443, '/'), 'https://shop.example/');
    assert.equal(httpsLocation('[::1]:8080', '::1', 8443, '/x'), 'https://[::1]:8443/x');
    assert.equal(httpsLocation(undefined, '::1', 8443, '/x'), 'https://[::1]:8443/x');
    assert.equal(httpsLocation(undefined, '10.0.0.1', 443, '/x'), 'https://10.0.0.1/x');
  });
});

function pair(c: { certPem: string; keyPem: string }): { certPem: string; keyPem: string } {
  return { certPem: c.certPem, keyPem: c.keyPem };
}
