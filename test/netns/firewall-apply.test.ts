/**
 * `bulwark firewall apply` in a network namespace of its own (so this machine's rules are never
 * touched): the ruleset loads, an unconfirmed apply rolls back to what was there before, and
 * tables that are not ours survive both. With `firewall.host: enforce` the agent applies its own
 * ruleset, restores it when it is removed, and applies a changed one on reload.
 */
import { adminCredentials } from '../../src/control-plane/certs/index.js';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/** The fixture with a 2 s confirm_timeout: long enough to reach the prompt, short enough to wait out. */
const SHORT = tempCluster(fs.readFileSync(FILE, 'utf8').replace(/^firewall:\n/m, 'firewall:\n  confirm_timeout: 2s\n'));

/** `apply` as an operator at a terminal: stdin stays open (nobody types), stdout and stderr collected. */
function applyHeld(node: string, file: string): { child: ChildProcess; out: () => string; exit: Promise<{ code: number | null; signal: string | null }> } {
  // `ip netns exec` execs the command: the child's pid is the CLI's, so signals reach it.
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, BIN, 'firewall', 'apply', '--node', node, '-c', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, out: () => text, exit };
}

/** Pids of rollback guards still waiting (`sh -c ... bulwark-rollback ...`). */
function rollbackGuards(): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('bulwark-rollback');
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

const atPrompt = (out: () => string): Promise<void> => eventually(() => assert.match(out(), /keep it\? type "yes"/), { timeoutMs: 15_000, intervalMs: 50 });

describe('bulwark firewall apply', { skip, timeout: 60_000 }, () => {
  before(() => {
    spawnSync('ip', ['netns', 'del', NS]);
    execFileSync('ip', ['netns', 'add', NS]);
    // Somebody else's table, which we must leave alone.
    assert.equal(inNs(['nft', 'add', 'table', 'inet', 'theirs']).status, 0);
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS]);
    SHORT.cleanup();
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

  it('rolls back when confirm_timeout passes while stdin stays open', async () => {
    const run = applyHeld('db-1', SHORT.file);
    try {
      await atPrompt(run.out);
      assert.match(table(), /dport 5432/, 'the new rules are in while it waits');
      const { code } = await run.exit;
      assert.equal(code, 1, run.out());
      assert.match(run.out(), /not confirmed within 2s: restored the previous bulwark table/);
    } finally {
      run.child.kill('SIGKILL');
    }
    assert.match(table(), /tcp dport 3000 accept/, 'web-1 rules are back');
    assert.doesNotMatch(table(), /dport 5432/);
  });

  it('rolls back on Ctrl-C (SIGINT) at the prompt, and exits 130', async () => {
    const run = applyHeld('db-1', FILE);
    try {
      await atPrompt(run.out);
      assert.match(table(), /dport 5432/);
      run.child.kill('SIGINT');
      const { code } = await run.exit;
      assert.equal(code, 130, run.out());
      assert.match(run.out(), /interrupted by SIGINT: restored the previous bulwark table/);
    } finally {
      run.child.kill('SIGKILL');
    }
    assert.match(table(), /tcp dport 3000 accept/);
    assert.doesNotMatch(table(), /dport 5432/);
  });

  it('rolls back on SIGHUP (the session went away)', async () => {
    const run = applyHeld('db-1', FILE);
    try {
      await atPrompt(run.out);
      run.child.kill('SIGHUP');
      assert.equal((await run.exit).code, 129, run.out());
    } finally {
      run.child.kill('SIGKILL');
    }
    assert.doesNotMatch(table(), /dport 5432/);
  });

  it('rolls back even when the CLI is killed outright (SIGKILL): the detached guard does it', async () => {
    const run = applyHeld('db-1', SHORT.file);
    await atPrompt(run.out);
    run.child.kill('SIGKILL');
    assert.equal((await run.exit).signal, 'SIGKILL');
    assert.match(table(), /dport 5432/, 'nobody rolled back yet');
    // The guard fires confirm_timeout (2 s) + 2 s after the apply.
    await eventually(() => {
      assert.match(table(), /tcp dport 3000 accept/);
      assert.doesNotMatch(table(), /dport 5432/);
    }, { timeoutMs: 10_000, intervalMs: 200 });
  });

  it('keeps a confirmed change, and leaves other tables alone', () => {
    const r = bulwark(['apply', '--node', 'db-1'], 'yes\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(table(), /tcp dport 5432 accept/);
    assert.deepEqual(rollbackGuards(), [], 'the confirmation disarmed the rollback guard');
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
    const unknown = bulwark(['frob']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown subcommand "frob" \(use plan, apply, verify or bans\)/);
    assert.match(unknown.stderr, /probe it \(verify\)/, 'the summary names every subcommand');
  });
});

describe('firewall.host: enforce', { skip, timeout: 60_000 }, () => {
  const yaml = (admin: string): string => `
cluster: enforce
state_dir: state
nodes: [ { name: mon-1, role: monitor, address: 10.216.0.31 } ]
firewall: { host: enforce${admin} }
`;
  const c = tempCluster(yaml(', admin_networks: []')); // closed on purpose: enforce refuses to close SSH by omission
  const lab = new NetnsLab('bwenf', '10.216.0', c.dir);
  // The agent finds `nft` here first: the real one, unless the test has told it to refuse
  // (touch REFUSE), the way nft rejects a ruleset, with its message on stderr.
  const shim = path.join(c.dir, 'bin');
  const REFUSE = path.join(shim, 'refuse');
  const realNft = execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim();
  const inLab = (args: string[]) => lab.run('mon-1', args);
  const status = async (): Promise<{ healthy: boolean; detail: string; firewall?: { corrections: number; appliedAt: string | null; error: string | null } }> =>
    JSON.parse(inLab(['curl', '-s', '--max-time', '2', ...pki, 'https://10.216.0.31:7700/status'])) as never;
  // The agent API speaks mutual TLS: curl presents the admin certificate and trusts the cluster CA.
  const pkiDir = path.join(c.dir, 'state', 'pki');
  const pki = ['--cacert', path.join(pkiDir, 'ca.crt'), '--cert', path.join(pkiDir, 'admin.crt'), '--key', path.join(pkiDir, 'admin.key')];

  before(async () => {
    await adminCredentials({ stateDir: path.join(c.dir, 'state'), cluster: 'enforce' });
    fs.mkdirSync(shim);
    fs.writeFileSync(path.join(shim, 'nft'), `#!/bin/sh\nif [ -e '${REFUSE}' ]; then echo 'Error: Could not process rule: refused by the test' >&2; exit 1; fi\nexec '${realNft}' "$@"\n`, { mode: 0o755 });
    lab.create({ 'mon-1': 31 });
    lab.spawn('mon-1', [process.execPath, BIN, 'agent', '--node', 'mon-1', '-c', c.file], 'mon-1',
      { BULWARK_LOG_FORMAT: 'json', PATH: `${shim}:${process.env['PATH'] ?? ''}` });
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

  it('a reload whose ruleset nft refuses fails, keeps the previous rules, and the node reports unhealthy', async () => {
    fs.writeFileSync(REFUSE, '');
    fs.writeFileSync(c.file, yaml(', admin_networks: [10.8.0.0/16]'));
    const r = spawnSync('ip', ['netns', 'exec', lab.host('mon-1').ns, process.execPath, BIN, 'reload', '-c', c.file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /mon-1: reload failed: .*refused by the test/, fs.readFileSync(lab.logPath('mon-1'), 'utf8').slice(-3000));
    assert.match(r.stderr, /mon-1: reload failed: the host firewall could not be applied: nft -f -: Error: Could not process rule: refused by the test/);
    assert.doesNotMatch(r.stdout, /re-applied/);
    assert.match(inLab(['nft', 'list', 'table', 'inet', 'bulwark']), /10\.9\.0\.0\/16/, 'the previous rules stay');
    const s = await status();
    assert.equal(s.healthy, false);
    assert.match(s.detail, /host firewall not applied: .*refused by the test/);
    assert.match(s.firewall?.error ?? '', /refused by the test/);
    // nft works again: the next reload applies the file and the node is healthy again.
    fs.rmSync(REFUSE);
    const ok = spawnSync('ip', ['netns', 'exec', lab.host('mon-1').ns, process.execPath, BIN, 'reload', '-c', c.file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(inLab(['nft', 'list', 'table', 'inet', 'bulwark']), /10\.8\.0\.0\/16/);
    assert.equal((await status()).firewall?.error, null);
  });

  it('an agent that cannot apply its ruleset does not start, and says why', () => {
    // A second agent for the same node, in the same host, with no nft on its PATH: it must fail
    // before it listens (the first agent holds the port; the second never gets that far).
    const r = spawnSync('ip', ['netns', 'exec', lab.host('mon-1').ns, 'env', 'PATH=/nonexistent', process.execPath, BIN, 'agent', '--node', 'mon-1', '-c', c.file],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, BULWARK_LOG_FORMAT: 'json' } });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /bulwark: the host firewall could not be applied: nft is not installed \(or not on PATH\): install nftables \[BWK_FIREWALL_APPLY\]/);
    assert.doesNotMatch(r.stdout + r.stderr, /agent API on/, 'it never listened');
  });
});
