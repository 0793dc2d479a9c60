/**
 * `tls: local` on a ManualClock: renewal at two thirds of the 90 days (hourly check), a kept pair
 * whose key does not match is reissued, and a host with the CA certificate but not its key serves
 * the certificate `bulwark certs issue --edge` made (and says which files to copy when there is none).
 * Also the ACME stand-in, replaced before it expires while ACME has no certificate.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parseClusterText, type ClusterSpec } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger, type Logger } from '../../src/core/log.js';
import { isBulwarkError } from '../../src/core/errors.js';
import { CertificateStore } from '../../src/data-plane/tls/index.js';
import {
  AcmeCertificateSource, AcmePeers, ClusterCa, LocalCertificateSource, caCertPath, caDirOf, edgeCertNames, edgeCertPaths, ensureEdgeCertificate,
} from '../../src/control-plane/certs/index.js';
import type { AgentClient } from '../../src/control-plane/agent-api/index.js';
import { ChallengeResponder } from '../../src/data-plane/tls/index.js';
import { eventually } from '../harness/eventually.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2031-03-01T00:00:00Z');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-local-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function cluster(stateDir: string): ClusterSpec {
  return parseClusterText([
    'cluster: t',
    `state_dir: ${stateDir}`,
    'nodes:',
    '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
    '  - { name: lb-2, role: lb, address: 127.0.1.2 }',
    '  - { name: web-1, role: web, address: 127.0.1.11 }',
    'web: { app: { command: [node, app.js], port: 3000 } }',
    'edge:',
    '  vip: 127.0.0.1',
    '  tls: { source: local, names: [shop.test] }',
    '  frontends: [ { name: www, port: 8080, https_port: 8443, default_backend: app } ]',
    '  backends: [ { name: app, servers: [ { node: web-1 } ] } ]',
  ].join('\n'), path.join(stateDir, 'bulwark.yaml'));
}

function logger(lines: string[]): Logger {
  return createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
}

function source(spec: ClusterSpec, nodeDir: string, store: CertificateStore, clock: ManualClock, lines: string[] = []): LocalCertificateSource {
  fs.mkdirSync(nodeDir, { recursive: true });
  return new LocalCertificateSource({ caDir: caDirOf(spec), cluster: spec.cluster, dir: nodeDir, names: edgeCertNames(spec), store, clock, log: logger(lines) });
}

const serial = (store: CertificateStore): string => store.served()[0]!.serial;

describe('LocalCertificateSource', () => {
  it('issues for the VIP, the lbs, localhost and tls.names, and renews at two thirds of 90 days', async () => {
    const spec = cluster(path.join(root, 'renew'));
    const clock = new ManualClock(T0);
    const store = new CertificateStore();
    const lines: string[] = [];
    const local = source(spec, path.join(root, 'renew', 'nodes', 'lb-1'), store, clock, lines);
    await local.start();
    const first = store.served()[0]!;
    assert.deepEqual([...first.names].sort(), ['127.0.0.1', '127.0.1.1', '127.0.1.2', 'localhost', 'shop.test']);
    assert.equal(first.notAfter.getTime(), T0 + 90 * DAY);
    const keyFile = path.join(root, 'renew', 'nodes', 'lb-1', 'edge.key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);

    // 59 days of hourly checks: the kept certificate stays.
    clock.advance(59 * DAY);
    await new Promise((r) => setImmediate(r));
    assert.equal(serial(store), first.serial);
    assert.equal(lines.filter((l) => /edge certificate issued/.test(l)).length, 1);

    // Past two thirds (60 days): the next hourly check issues a new one, kept on disk.
    clock.advance(DAY + HOUR);
    const renewed = await eventually(() => {
      const s = store.served()[0]!;
      assert.notEqual(s.serial, first.serial);
      return s;
    });
    assert.equal(renewed.notAfter.getTime() > T0 + 150 * DAY, true, 'a fresh 90 days from the renewal');
    assert.equal(new X509Certificate(fs.readFileSync(path.join(root, 'renew', 'nodes', 'lb-1', 'edge.crt'))).serialNumber, renewed.serial);
    assert.deepEqual(fs.readdirSync(path.join(root, 'renew', 'nodes', 'lb-1')).sort(), ['edge.crt', 'edge.key'], 'no temporary file left');
    local.stop();
    assert.equal(clock.pending(), 0);
  });

  it('reissues when the kept key does not belong to the kept certificate', async () => {
    const spec = cluster(path.join(root, 'mismatch'));
    const dir = path.join(root, 'mismatch', 'nodes', 'lb-1');
    const clock = new ManualClock(T0);
    const first = source(spec, dir, new CertificateStore(), clock);
    await first.start();
    first.stop();
    const cert = fs.readFileSync(path.join(dir, 'edge.crt'), 'utf8');
    const ca = await ClusterCa.ensure(caDirOf(spec), 't', clock);
    fs.writeFileSync(path.join(dir, 'edge.key'), (await ca.issue({ commonName: 'x', names: ['x.test'], usage: 'server', days: 1 })).keyPem);

    const store = new CertificateStore();
    const lines: string[] = [];
    const again = source(spec, dir, store, clock, lines);
    await again.start();
    again.stop();
    assert.notEqual(serial(store), new X509Certificate(cert).serialNumber, 'a new certificate, with its own key');
    assert.ok(lines.some((l) => /does not belong to the certificate/.test(l)), lines.join(''));
  });

  it('on a host without the CA key: a coded error naming the files, then the certificate `certs issue --edge` made', async () => {
    const caHost = cluster(path.join(root, 'ca-host'));
    const lbHost = cluster(path.join(root, 'lb-host'));
    const clock = new ManualClock(T0);
    await ClusterCa.ensure(caDirOf(caHost), 't', clock);
    fs.mkdirSync(caDirOf(lbHost), { recursive: true });
    fs.copyFileSync(caCertPath(caDirOf(caHost)), caCertPath(caDirOf(lbHost)));
    const nodeDir = path.join(root, 'lb-host', 'nodes', 'lb-2');

    const store = new CertificateStore();
    await assert.rejects(source(lbHost, nodeDir, store, clock).start(), (err: unknown) => {
      assert.ok(isBulwarkError(err) && err.code === 'BWK_TLS_LOCAL', String(err));
      assert.match(err.message, /bulwark certs issue --edge/);
      for (const f of [caCertPath(caDirOf(lbHost)), edgeCertPaths(caDirOf(lbHost)).cert, edgeCertPaths(caDirOf(lbHost)).key]) assert.ok(err.message.includes(f), `${f} in: ${err.message}`);
      return true;
    });
    assert.equal(store.served().length, 0);

    const made = await ensureEdgeCertificate(caHost, clock);
    assert.equal(made.kept, false);
    assert.equal((await ensureEdgeCertificate(caHost, clock)).kept, true, 'a good one is kept');
    for (const f of ['cert', 'key'] as const) fs.copyFileSync(made[f], edgeCertPaths(caDirOf(lbHost))[f]);

    const lines: string[] = [];
    const local = source(lbHost, nodeDir, store, clock, lines);
    await local.start();
    assert.equal(serial(store), new X509Certificate(made.certPem).serialNumber);
    assert.ok(!fs.existsSync(path.join(nodeDir, 'edge.crt')), 'nothing issued here');

    // Ageing: still served (nothing better is possible here), with an error saying what to do.
    clock.advance(61 * DAY);
    await new Promise((r) => setImmediate(r));
    assert.equal(serial(store), new X509Certificate(made.certPem).serialNumber);
    assert.ok(lines.some((l) => /cannot renew it \(no CA key\).*certs issue --edge/.test(l)), lines.join(''));

    // A renewed copy arrives: the next hourly check serves it.
    const renewed = await ensureEdgeCertificate(caHost, clock);
    assert.equal(renewed.kept, false);
    for (const f of ['cert', 'key'] as const) fs.copyFileSync(renewed[f], edgeCertPaths(caDirOf(lbHost))[f]);
    clock.advance(HOUR);
    await new Promise((r) => setImmediate(r));
    assert.equal(serial(store), new X509Certificate(renewed.certPem).serialNumber);
    local.stop();
  });
});

describe('the ACME stand-in', () => {
  it('is replaced before it expires while ACME has no certificate', async () => {
    const dir = path.join(root, 'acme');
    fs.mkdirSync(dir, { recursive: true });
    const clock = new ManualClock(T0);
    const store = new CertificateStore();
    const acme = new AcmeCertificateSource({
      spec: { directory: 'https://127.0.0.1:1/dir', email: 'ops@example.com', names: ['shop.test'], renewAt: 2 / 3 },
      dir, caDir: path.join(dir, 'pki'), cluster: 't', store, challenges: new ChallengeResponder(),
      peers: new AcmePeers([], {} as AgentClient), holdsVip: () => false, clock, log: logger([]),
    });
    await acme.start();
    const first = store.served()[0]!;
    assert.equal(first.source, 'cluster CA (until ACME issues)');
    assert.equal(first.notAfter.getTime(), T0 + 7 * DAY);
    clock.advance(4 * DAY);
    await new Promise((r) => setImmediate(r));
    assert.equal(serial(store), first.serial, 'not yet');
    // Two thirds of 7 days: 4 days 16 hours.
    clock.advance(16 * HOUR);
    const next = await eventually(() => {
      const s = store.served()[0]!;
      assert.notEqual(s.serial, first.serial);
      return s;
    });
    assert.equal(next.notAfter.getTime(), T0 + (7 * DAY * 2) / 3 + 7 * DAY, 'issued at two thirds of the first one\'s life');
    acme.stop();
    assert.equal(clock.pending(), 0);
  });
});
