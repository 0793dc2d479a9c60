/**
 * A reload with a changed `edge.tls` swaps the certificate source on the store the listeners
 * hold (real sources: files and the cluster CA); an unchanged one keeps the source; a change
 * whose new source cannot serve is refused and the running certificates stay.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import type { CertificateStore } from '../../src/data-plane/tls/index.js';
import { ClusterCa, EdgeCertificates, FilesCertificateSource, LocalCertificateSource, type CertificateSource } from '../../src/control-plane/certs/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-tls-reload-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

type Plan = { source: 'local' } | { source: 'files'; files: string[] };

describe('EdgeCertificates.reload', () => {
  it('swaps the source on the same store, keeps it when nothing changed, refuses one that cannot serve', async () => {
    const clock = new ManualClock(Date.parse('2031-01-01T00:00:00Z'));
    const log = silentLogger();
    const ca = await ClusterCa.ensure(path.join(dir, 'pki'), 't', clock);
    for (const name of ['a.test', 'b.test']) {
      const c = await ca.issue({ commonName: name, names: [name], usage: 'server', days: 30 });
      fs.writeFileSync(path.join(dir, `${name}.crt`), c.certPem);
      fs.writeFileSync(path.join(dir, `${name}.key`), c.keyPem);
    }
    const made: CertificateSource[] = [];
    const certs = new EdgeCertificates<Plan>((plan, store: CertificateStore) => {
      const s = plan.source === 'local'
        ? new LocalCertificateSource({ caDir: path.join(dir, 'pki'), cluster: 't', dir, names: ['127.0.0.1', 'localhost'], store, clock, log })
        : new FilesCertificateSource(plan.files.map((n) => ({ cert: path.join(dir, `${n}.crt`), key: path.join(dir, `${n}.key`) })), store, clock, log);
      made.push(s);
      return s;
    });
    const names = (): string[] => certs.store.served().map((c) => c.names.join(','));

    await certs.start({ source: 'files', files: ['a.test'] });
    assert.deepEqual(names(), ['a.test']);
    assert.equal(await certs.reload({ source: 'files', files: ['a.test'] }), false, 'unchanged');
    assert.equal(made.length, 1);

    assert.equal(await certs.reload({ source: 'files', files: ['a.test', 'b.test'] }), true);
    assert.deepEqual(names(), ['a.test', 'b.test']);
    assert.equal(await certs.reload({ source: 'local' }), true);
    assert.deepEqual(names(), ['127.0.0.1,localhost']);
    assert.equal(certs.store.served()[0]!.source, 'cluster CA');
    assert.ok(certs.current instanceof LocalCertificateSource);

    await assert.rejects(certs.reload({ source: 'files', files: ['missing.test'] }), /missing\.test\.crt: no such file/);
    assert.deepEqual(names(), ['127.0.0.1,localhost'], 'the running certificates stay');
    assert.ok(certs.current instanceof LocalCertificateSource);

    // Only the current source has timers: the replaced ones were stopped.
    certs.stop();
    assert.equal(clock.pending(), 0);
  });
});
