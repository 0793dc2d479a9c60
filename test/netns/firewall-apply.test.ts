/**
 * `bulwark firewall apply` in a network namespace of its own (so this machine's rules are never
 * touched): the ruleset loads, an unconfirmed apply rolls back to what was there before, and
 * tables that are not ours survive both. With `firewall.host: enforce` the agent applies its own
 * ruleset, restores it when it is removed, and applies a changed one on reload.
 */
import { adminCredentials } from '../../src/control-plane/certs/index.js';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { missing, skipUnlessCi } from '../harness/requirements.js';
import path from 'node:path';
import fs from 'node:fs';
import { BIN, REPO, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { NetnsLab } from '../harness/netns-lab.js';

const NS = 'bwfw-apply';
const FILE = path.join(REPO, 'test/fixtures/firewall/cluster.yaml');

const skip = skipUnlessCi(missing({ root: true, tools: ['ip', 'nft'], why: 'applying a firewall in a network namespace' }), 'firewall apply tests');

const inNs = (args: string[], input?: string) => spawnSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', input: input ?? '', timeout: 30_000 });
const bulwark = (args: string[], input?: string) => inNs([process.execPath, BIN, 'firewall', ...args, '-c', FILE], input);
const table = (): string => inNs(['nft', 'list', 'table', 'inet', 'bulwark']).stdout;

describe('bulwark firewall apply', { skip, timeout: 60_000 }, () => {
  before(() => {
    spawnSync('ip', ['netns', 'del', NS]);
    execFileSync('ip', ['netns', 'add', NS]);
    // Somebody else's table, which we must leave alone.
    assert.equal(inNs(['nft', 'add', 'table', 'inet', 'theirs']).status, 0);
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  it('loads the node ruleset (--yes keeps it)', () => {
    const r = bulwark(['apply', '--node', 'web-1', '--yes']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(table(), /tcp dport 3000 accept comment "the application, from the load balancers/);
    assert.match(table(), /policy drop/);
  });

  it('rolls back to the previous table when the change is not confirmed', () => {
    const r = bulwark(['apply', '--node', 'db-1'], 'no\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not confirmed .*restored the previous bulwark table/);
    assert.match(table(), /tcp dport 3000 accept/, 'web-1 rules are back');
    assert.doesNotMatch(table(), /dport 5432/);
  });

  it('keeps a confirmed change, and leaves other tables alone', () => {
    const r = bulwark(['apply', '--node', 'db-1'], 'yes\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(table(), /tcp dport 5432 accept/);
    assert.match(inNs(['nft', 'list', 'tables']).stdout, /table inet theirs/);
  });

  it('removes the table again when there was none before and nobody confirms', () => {
    assert.equal(inNs(['nft', 'delete', 'table', 'inet', 'bulwark']).status, 0);
    const r = bulwark(['apply', '--node', 'lb-1']); // stdin closes at once: no answer
    assert.equal(r.status, 1);
    assert.match(r.stderr, /removed the bulwark table again/);
    assert.notEqual(inNs(['nft', 'list', 'table', 'inet', 'bulwark']).status, 0);
    assert.match(inNs(['nft', 'list', 'tables']).stdout, /table inet theirs/);
  });

  it('plan prints every node, or one', () => {
    const all = bulwark(['plan']);
    assert.equal((all.stdout.match(/^table inet bulwark \{/gm) ?? []).length, 7);
    const one = bulwark(['plan', '--node', 'mon-1']);
    assert.match(one.stdout, /for mon-1 \(monitor, 10\.0\.0\.31\)/);
    const bad = bulwark(['apply']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--node NAME is required/);
  });
});

describe('firewall.host: enforce', { skip, timeout: 60_000 }, () => {
  const yaml = (admin: string): string => `
cluster: enforce
state_dir: state
nodes: [ { name: mon-1, role: monitor, address: 10.216.0.31 } ]
firewall: { host: enforce${admin} }
`;
  const c = tempCluster(yaml(''));
  const lab = new NetnsLab('bwenf', '10.216.0', c.dir);
  const inLab = (args: string[]) => lab.run('mon-1', args);
  const status = async (): Promise<{ firewall?: { corrections: number; appliedAt: string | null } }> =>
    JSON.parse(inLab(['curl', '-s', '--max-time', '2', ...pki, 'https://10.216.0.31:7700/status'])) as never;
  // The agent API speaks mutual TLS: curl presents the admin certificate and trusts the cluster CA.
  const pkiDir = path.join(c.dir, 'state', 'pki');
  const pki = ['--cacert', path.join(pkiDir, 'ca.crt'), '--cert', path.join(pkiDir, 'admin.crt'), '--key', path.join(pkiDir, 'admin.key')];

  before(async () => {
    await adminCredentials({ stateDir: path.join(c.dir, 'state'), cluster: 'enforce' });
    lab.create({ 'mon-1': 31 });
    lab.spawn('mon-1', [process.execPath, BIN, 'agent', '--node', 'mon-1', '-c', c.file], 'mon-1', { BULWARK_LOG_FORMAT: 'json' });
  });
  after(async () => {
    await lab.stopAll();
    lab.destroy();
    c.cleanup();
  });

  it('the agent applies its ruleset before it listens, and re-applies it when someone removes it', async () => {
    await eventually(async () => assert.ok((await status()).firewall?.appliedAt), { timeoutMs: 20_000, intervalMs: 200 });
    assert.match(inLab(['nft', 'list', 'table', 'inet', 'bulwark']), /tcp dport 7700 accept/);
    inLab(['nft', 'delete', 'table', 'inet', 'bulwark']);
    await eventually(async () => {
      assert.equal((await status()).firewall?.corrections, 1);
      assert.match(inLab(['nft', 'list', 'table', 'inet', 'bulwark']), /policy drop/);
    }, { timeoutMs: 15_000, intervalMs: 250 });
  });

  it('bulwark reload applies a changed ruleset', async () => {
    fs.writeFileSync(c.file, yaml(', admin_networks: [10.9.0.0/16]'));
    const r = spawnSync('ip', ['netns', 'exec', lab.host('mon-1').ns, process.execPath, BIN, 'reload', '-c', c.file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /host firewall re-applied/);
    assert.match(inLab(['nft', 'list', 'table', 'inet', 'bulwark']), /ip saddr 10\.9\.0\.0\/16 tcp dport \{ 22, 7700 \} accept/);
  });
});
