/**
 * Bad `edge.tls` input with file:line:col: names that are no DNS name or address (local and
 * acme), and, when the files are checked (`bulwark validate`), certificate/key files that are
 * missing, not PEM or not a pair, and an ACME account key or CA file that does not parse.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseClusterText } from '../../src/config/index.js';
import { isBulwarkError } from '../../src/core/errors.js';
import { ClusterCa } from '../../src/control-plane/certs/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-config-tls-'));
const FILE = path.join(dir, 'c.yaml');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A valid cluster whose line 8 is the `tls:` mapping given. */
function text(tls: string[]): string {
  return [
    /* 1 */ 'cluster: t',
    /* 2 */ 'nodes:',
    /* 3 */ '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
    /* 4 */ '  - { name: web-1, role: web, address: 127.0.1.11 }',
    /* 5 */ 'web: { app: { command: [node, app.js], port: 3000 } }',
    /* 6 */ 'edge:',
    /* 7 */ '  vip: 127.0.0.1',
    /* 8 */ ...tls.map((l) => `  ${l}`),
    '  frontends: [ { name: www, port: 8080, https_port: 8443, default_backend: app } ]',
    '  backends: [ { name: app, servers: [ { node: web-1 } ] } ]',
  ].join('\n');
}

function problems(tls: string[], files = true): string[] {
  try {
    parseClusterText(text(tls), FILE, { files });
  } catch (err) {
    assert.ok(isBulwarkError(err) && err.code === 'BWK_CONFIG_INVALID', String(err));
    return err.details.map((d) => d.slice(FILE.length + 1));
  }
  return [];
}

describe('edge.tls names', () => {
  it('local: each must be a DNS name (a wildcard is fine) or an IP address', () => {
    assert.deepEqual(problems(['tls: { source: local, names: [shop.test, "*.shop.test", "::1", "bad name"] }']), [
      '8:66: edge.tls.names[3]: expected a DNS name like www.example.com (or *.example.com) or an IP address, got "bad name"',
    ]);
  });

  it('acme: the same check, and no wildcard', () => {
    assert.deepEqual(problems(['tls:', '    source: acme', '    acme: { email: a@b.test, names: ["bad name", "*.x.test"] }']), [
      '10:40: edge.tls.acme.names[0]: expected a DNS name like www.example.com or an IP address, got "bad name"',
      '10:52: edge.tls.acme.names[1]: "*.x.test" is a wildcard: HTTP-01 (the challenge the edge answers) cannot prove one; list each name',
    ]);
  });
});

describe('edge.tls files (checked by bulwark validate)', () => {
  let good: { cert: string; key: string };
  let other: { cert: string; key: string };
  before(async () => {
    const ca = await ClusterCa.ensure(path.join(dir, 'pki'), 't');
    for (const [n, set] of [['good', (p: typeof good) => (good = p)], ['other', (p: typeof good) => (other = p)]] as const) {
      const c = await ca.issue({ commonName: n, names: [`${n}.test`], usage: 'server', days: 30 });
      fs.writeFileSync(path.join(dir, `${n}.crt`), c.certPem);
      fs.writeFileSync(path.join(dir, `${n}.key`), c.keyPem);
      set({ cert: `${n}.crt`, key: `${n}.key` });
    }
    fs.writeFileSync(path.join(dir, 'garbage.pem'), 'not PEM at all\n');
  });

  it('accepts a good pair, relative to the cluster file', () => {
    assert.deepEqual(problems(['tls:', '    source: files', `    certificates: [ { cert: ${good.cert}, key: ${good.key} } ]`]), []);
  });

  it('names a missing file, a file that is not PEM, and a key of another certificate, at their keys', () => {
    assert.deepEqual(problems([
      'tls:',
      '    source: files',
      '    certificates:',
      `      - { cert: missing.crt, key: ${good.key} }`,
      `      - { cert: garbage.pem, key: ${good.key} }`,
      `      - { cert: ${good.cert}, key: ${other.key} }`,
    ]).map((l) => l.replace(/ \(.*\)$/, '')), [
      `11:13: edge.tls.certificates[0].cert: cannot read ${path.join(dir, 'missing.crt')} on this machine: no such file`,
      `12:13: edge.tls.certificates[1].cert: ${path.join(dir, 'garbage.pem')} is not a PEM certificate`,
      `13:29: edge.tls.certificates[2].key: ${path.join(dir, 'other.key')} is not the key of the certificate in ${path.join(dir, 'good.crt')}`,
    ]);
  });

  it('are not read when loading for anything else (only lb hosts have them)', () => {
    assert.deepEqual(problems(['tls:', '    source: files', '    certificates: [ { cert: missing.crt, key: missing.key } ]'], false), []);
  });

  it('acme: an account key and a CA file that do not parse', () => {
    assert.deepEqual(problems([
      'tls:',
      '    source: acme',
      '    acme: { email: a@b.test, names: [shop.test], account_key: garbage.pem, ca_file: good.key }',
    ]).map((l) => l.replace(/ \(.*\)$/, '')), [
      `10:52: edge.tls.acme.account_key: ${path.join(dir, 'garbage.pem')} is not a PEM private key`,
      `10:78: edge.tls.acme.ca_file: ${path.join(dir, 'good.key')} is not a PEM certificate`,
    ]);
  });
});
