/**
 * Golden rulesets: the fixture topology → one nftables script per node, compared with the files
 * in test/fixtures/firewall (BULWARK_UPDATE_GOLDEN=1 rewrites them: review the diff). As root
 * with nft installed, each script must also load in nft's check mode.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { missing, skipUnlessCi } from '../harness/requirements.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterFile } from '../../src/config/index.js';
import { expectations, hostRuleset, openings } from '../../src/control-plane/host-firewall/index.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/firewall');
const spec = loadClusterFile(path.join(FIXTURES, 'cluster.yaml'));

const skipNft = skipUnlessCi(missing({ root: true, tools: ['nft'], why: 'nft -c' }), 'nft -c checks');

describe('host firewall rulesets', () => {
  for (const node of spec.nodes) {
    it(`${node.name} (${node.role}) matches its golden file`, () => {
      // The source path differs between checkouts: the golden files carry a placeholder.
      const text = hostRuleset(spec, node).replace(spec.sourcePath, 'cluster.yaml');
      const file = path.join(FIXTURES, `${node.name}.nft`);
      if (process.env['BULWARK_UPDATE_GOLDEN'] === '1') fs.writeFileSync(file, text);
      assert.equal(text, fs.readFileSync(file, 'utf8'));
    });

    it(`${node.name}: loads in nft -c`, { skip: skipNft }, () => {
      const tmp = path.join(os.tmpdir(), `bulwark-fw-${process.pid}-${node.name}.nft`);
      fs.writeFileSync(tmp, hostRuleset(spec, node));
      try {
        execFileSync('nft', ['-c', '-f', tmp], { stdio: 'pipe' });
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    });
  }

  it('opens each role only what the topology needs', () => {
    const ports = (name: string): number[] => openings(spec, spec.nodes.find((n) => n.name === name)!).flatMap((o) => o.ports).sort((a, b) => a - b);
    // 7700 twice: from members, and from admin networks (the CLI).
    assert.deepEqual(ports('lb-1'), [22, 80, 443, 5433, 7700, 7700]);
    assert.deepEqual(ports('web-1'), [22, 3000, 7700, 7700]);
    assert.deepEqual(ports('db-1'), [22, 2379, 5432, 7700, 7700]);
    assert.deepEqual(ports('mon-1'), [22, 2379, 7700, 7700, 9443]); // 9443: the dashboard, admin networks only
    const pg = openings(spec, spec.nodes.find((n) => n.name === 'db-1')!).find((o) => o.ports.includes(5432))!;
    assert.deepEqual([...pg.from].sort(), ['10.0.0.11', '10.0.0.22', 'fd00::12'], 'PostgreSQL: web nodes and the other db member, nobody else');
    const app = openings(spec, spec.nodes.find((n) => n.name === 'web-1')!).find((o) => o.ports.includes(3000))!;
    assert.deepEqual(app.from, ['10.0.0.1', '10.0.0.2'], 'the app: only the lbs');
  });

  it('derives what verify expects between members', () => {
    const want = (from: string, to: string, port: number): boolean | undefined =>
      expectations(spec).find((e) => e.from.name === from && e.to.name === to && e.port === port)?.open;
    assert.equal(want('web-1', 'db-1', 5432), true);
    assert.equal(want('db-2', 'db-1', 5432), true);
    assert.equal(want('mon-1', 'db-1', 5432), false);
    assert.equal(want('lb-1', 'web-1', 3000), true);
    assert.equal(want('db-1', 'web-1', 3000), false);
    assert.equal(want('web-2', 'lb-1', 443), true, 'client_networks (::/0) cover the IPv6 web-2 too');
    assert.equal(want('web-2', 'lb-1', 7700), true, 'every member reaches every agent API');
  });

  it('keeps SSH closed when no admin network is configured', () => {
    const noAdmin = { ...spec, firewall: { ...spec.firewall, adminNetworks: [] } };
    assert.doesNotMatch(hostRuleset(noAdmin, spec.nodes[0]!), /dport (22|\{ 22)/);
  });
});
