/**
 * `bulwark deploy systemd`: per role only the capabilities it needs, the sandbox settings, and
 * every unit of the firewall fixture topology accepted by `systemd-analyze verify` without a
 * single warning (an unknown or misspelt key would be one).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO } from '../harness/cli.js';
import { loadClusterFile } from '../../src/config/index.js';
import type { ClusterSpec } from '../../src/config/types.js';
import { capabilitiesOf, systemdUnit, unitName } from '../../src/cli/systemd-unit.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const FIXTURES = path.join(REPO, 'test/fixtures/firewall');
const spec = loadClusterFile(path.join(FIXTURES, 'cluster.yaml'));
const node = (name: string) => spec.nodes.find((n) => n.name === name)!;
const PATHS = { node: '/usr/bin/node', bin: '/opt/bulwark/dist/src/cli/main.js' };
const skipVerify = skipUnlessCi(missing({ tools: ['systemd-analyze'], why: 'systemd-analyze verify' }), 'systemd unit verification');

describe('systemd units', () => {
  it('keeps per role only the capabilities it uses', () => {
    assert.deepEqual(capabilitiesOf(spec, node('web-1')).caps, []);
    assert.deepEqual(capabilitiesOf(spec, node('lb-1')).caps, ['CAP_NET_BIND_SERVICE'], 'frontends on 80 and 443');
    assert.deepEqual(capabilitiesOf(spec, node('db-1')).caps, ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID']);
    const withVip: ClusterSpec = { ...spec, edge: { ...spec.edge, standby: { ...spec.edge.standby, interface: 'eth0' } } };
    assert.deepEqual(capabilitiesOf(withVip, node('lb-1')).caps, ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.ok(capabilitiesOf(withVip, node('lb-1')).families.includes('AF_PACKET'), 'arping needs packet sockets');
    const enforced: ClusterSpec = { ...spec, firewall: { ...spec.firewall, host: 'enforce' } };
    assert.deepEqual(capabilitiesOf(enforced, node('web-1')).caps, ['CAP_NET_ADMIN']);
  });

  it('sandboxes the agent and runs it with the cluster file', () => {
    const unit = systemdUnit(spec, node('web-1'), PATHS);
    assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node /opt/bulwark/dist/src/cli/main.js agent --node web-1 -c ${spec.sourcePath.replace(/[.]/g, '\\.')}$`, 'm'));
    for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', `ReadWritePaths=${spec.stateDir}`, 'CapabilityBoundingSet=', 'KillMode=mixed', 'Restart=always', 'WantedBy=multi-user.target']) {
      assert.ok(unit.split('\n').includes(line), `missing ${line}`);
    }
    assert.doesNotMatch(unit, /useradd/, 'only db nodes create the PostgreSQL user');
    assert.match(systemdUnit(spec, node('db-1'), PATHS), /^ExecStartPre=\+\/bin\/sh -c 'getent passwd postgres/m);
    assert.equal(unitName(node('db-1')), 'bulwark-db-1.service');
  });

  it('every unit passes systemd-analyze verify without a warning', { skip: skipVerify }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-units-'));
    try {
      // verify checks that ExecStart's binary exists: point it at real files.
      const real = { node: process.execPath, bin: path.join(dir, 'main.js') };
      fs.writeFileSync(real.bin, '');
      for (const n of spec.nodes) {
        const file = path.join(dir, unitName(n));
        fs.writeFileSync(file, systemdUnit(spec, n, real));
        const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
        const noise = r.stderr.split('\n').filter((l) => l.includes(unitName(n)) || /Unknown|invalid|Failed/i.test(l));
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(noise, [], `${n.name}: ${r.stderr}`);
      }
      // And it does catch a broken unit, so a clean result means something.
      const bad = path.join(dir, 'bulwark-bad.service');
      fs.writeFileSync(bad, systemdUnit(spec, node('web-1'), real).replace('ProtectSystem=strict', 'ProtectSystm=strict'));
      assert.match(spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' }).stderr, /Unknown key 'ProtectSystm'/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI prints the unit, and --install writes it where asked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-install-'));
    try {
      // A copy with its state folder inside the temp dir: --install creates the state folder.
      const cfg = path.join(dir, 'cluster.yaml');
      fs.writeFileSync(cfg, fs.readFileSync(path.join(FIXTURES, 'cluster.yaml'), 'utf8').replace(/^state_dir:.*$/m, '') + '\nstate_dir: state\n');
      const printed = execFileSync(process.execPath, [BIN, 'deploy', 'systemd', '--node', 'lb-1', '-c', cfg], { encoding: 'utf8' });
      assert.match(printed, /^Description=Bulwark lb node lb-1/m);
      const units = path.join(dir, 'units');
      const out = execFileSync(process.execPath, [BIN, 'deploy', 'systemd', '--node', 'lb-1', '--install', '--unit-dir', units, '-c', cfg], { encoding: 'utf8' });
      assert.match(out, /wrote .*bulwark-lb-1\.service/);
      assert.equal(fs.readFileSync(path.join(units, 'bulwark-lb-1.service'), 'utf8'), printed);
      assert.ok(fs.statSync(path.join(dir, 'state')).isDirectory(), 'the state folder exists before the first start');
      const usage = spawnSync(process.execPath, [BIN, 'deploy', 'systemd', '-c', cfg], { encoding: 'utf8' });
      assert.equal(usage.status, 2);
      assert.match(usage.stderr, /--node NAME is required/);
      const unknown = spawnSync(process.execPath, [BIN, 'deploy', 'systemd', '--node', 'nope', '-c', cfg], { encoding: 'utf8' });
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /nope/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
