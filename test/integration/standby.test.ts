/**
 * Two lbs on one machine, elected by lease: the active binds the VIP (a loopback address), the
 * passive stands by. Under a bounded load of clients that retry refused connects: kill -9 of the
 * active (gap measured), the old active returning passive (preempt off), `switchover --edge`, and
 * an active cut off from its voters letting go before the other takes over.
 */
import { agentCall } from '../harness/agent-tls.js';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bulwark, demoAppYaml, tempCluster } from '../harness/cli.js';
import { startRetryingLoad } from '../harness/retrying-load.js';
import { eventually } from '../harness/eventually.js';

const VIP = '127.0.8.100';
const PORT = 18180;
const AGENT = 17780;

const YAML = `
cluster: standby-test
state_dir: state
agent: { port: ${AGENT} }
nodes:
  - { name: lb-1,  role: lb,  address: 127.0.8.1 }
  - { name: lb-2,  role: lb,  address: 127.0.8.2 }
  - { name: web-1, role: web, address: 127.0.8.11 }
  - { name: web-2, role: web, address: 127.0.8.12 }
  - { name: mon-1, role: monitor, address: 127.0.8.31 }
web:
${demoAppYaml(13180)}edge:
  vip: ${VIP}
  standby:
    min_hold: 1s
    notify:
      on_active: 'echo "$BULWARK_NODE $BULWARK_STATE $BULWARK_VIP: $BULWARK_REASON" >> hooks.log'
      on_passive: 'echo "$BULWARK_NODE $BULWARK_STATE: $BULWARK_REASON" >> hooks.log'
  frontends:
    - { name: www, mode: http, port: ${PORT}, default_backend: app }
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 2, fall: 2 }
      servers: [ { node: web-1 }, { node: web-2 } ]
`;

interface Standby { node: string; state: string; since: string | null; reason: string }
interface StatusJson { edge: { active: string | null; standby: Standby[] } }

async function edgeStatus(file: string): Promise<StatusJson['edge']> {
  const r = await bulwark(['status', '--json', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as StatusJson).edge;
}

let stateDir = '';
const agentOf = (last: number | string): { address: string; agentPort: number } => ({ address: `127.0.8.${last}`, agentPort: AGENT });

async function metric(lb: string, name: string): Promise<number> {
  const text = (await agentCall<string>(stateDir, agentOf(lb === 'lb-1' ? 1 : 2), 'GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return Number(line?.split(' ').pop());
}

async function activeIs(file: string, lb: string): Promise<void> {
  await eventually(async () => {
    const e = await edgeStatus(file);
    assert.equal(e.active, lb);
    assert.equal(e.standby.filter((s) => s.state === 'active').length, 1, JSON.stringify(e.standby));
  }, { timeoutMs: 10_000, message: `${lb} active` });
}

describe('active-passive lbs on one machine', { timeout: 180_000 }, () => {
  const c = tempCluster(YAML);
  stateDir = path.join(c.dir, 'state');
  const url = `http://${VIP}:${PORT}/api/whoami`;
  const gaps: Record<string, number> = {};

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '60s'], { env: { BULWARK_FAULT_INJECTION: '1' } });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    const r = await bulwark(['down', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    c.cleanup();
    console.log(`# VIP gaps measured: ${JSON.stringify(gaps)}`);
  });

  // Which lb wins the first election depends on which one saw its servers healthy first.
  let a = 'lb-1';
  let b = 'lb-2';
  const of = (e: StatusJson['edge'], lb: string): Standby => e.standby.find((x) => x.node === lb)!;
  const ip = (lb: string): string => `127.0.8.${lb === 'lb-1' ? 1 : 2}`;

  it('elects one active and shows who holds the VIP, since when and why', async () => {
    await eventually(async () => assert.notEqual((await edgeStatus(c.file)).active, null), { timeoutMs: 10_000 });
    a = (await edgeStatus(c.file)).active!;
    b = a === 'lb-1' ? 'lb-2' : 'lb-1';
    await activeIs(c.file, a);
    const e = await edgeStatus(c.file);
    assert.match(of(e, a).reason, /lease granted \(\d of 5 voters grant it, a majority is 3\)/);
    assert.ok(Date.parse(of(e, a).since!) > 0);
    assert.equal(of(e, b).state, 'passive');
    assert.match(of(e, b).reason, new RegExp(`standing by: ${a} holds the VIP`));
    const human = await bulwark(['status', '-c', c.file]);
    assert.match(human.stdout, new RegExp(`VIP held by ${a}`));
    assert.match(human.stdout, new RegExp(`${b} +PASSIVE`));
    assert.equal(await metric(a, 'bulwark_vip_active'), 1);
    assert.equal(await metric(b, 'bulwark_vip_active'), 0);
    assert.equal((await fetch(url)).status, 200);
  });

  it('kill -9 of the active: the passive takes over in under a second, clients that retry lose nothing', async () => {
    const load = startRetryingLoad(url, { concurrency: 4, maxMs: 20_000 });
    await eventually(() => assert.ok(load.ok() > 50), { timeoutMs: 5000 });
    const kill = await bulwark(['kill', a, '-c', c.file]);
    assert.equal(kill.code, 0, kill.stderr);
    await activeIs(c.file, b);
    const okBefore = load.ok();
    await eventually(() => assert.ok(load.ok() > okBefore + 50), { timeoutMs: 5000 });
    const res = await load.stop();
    gaps['kill -9 active'] = res.gapMs;
    assert.equal(res.failed, 0, `failed requests: ${JSON.stringify(res)}`);
    assert.ok(res.gapMs < 1000, `takeover gap ${res.gapMs}ms (goal < 1 s)`);
    assert.equal(await metric(b, 'bulwark_vip_takeovers_total'), 1);
    const took = await metric(b, 'bulwark_vip_last_takeover_seconds');
    assert.ok(took > 0.3 && took < 1.5, `last takeover ${took}s`);
    // The notify hook ran in the node's folder, with the transition in its environment.
    const hooks = path.join(c.dir, `state/nodes/${b}/hooks.log`);
    await eventually(() => assert.match(fs.readFileSync(hooks, 'utf8'), new RegExp(`${b} active 127\\.0\\.8\\.100: lease granted`)));
  });

  it('the old active comes back passive and stays passive (preempt off)', async () => {
    const r = await bulwark(['start', a, '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => {
      const e = await edgeStatus(c.file);
      assert.equal(of(e, a).state, 'passive');
      assert.match(of(e, a).reason, new RegExp(`standing by: ${b} holds the VIP`));
    }, { timeoutMs: 10_000 });
    // Longer than min_hold and several leases: still b.
    const until = Date.now() + 3000;
    await eventually(async () => {
      assert.equal((await edgeStatus(c.file)).active, b);
      assert.ok(Date.now() >= until);
    }, { timeoutMs: 6000, intervalMs: 250 });
  });

  it('switchover --edge moves the VIP with no failed request for clients that retry', async (t) => {
    const load = startRetryingLoad(url, { concurrency: 4, maxMs: 20_000 });
    await eventually(() => assert.ok(load.ok() > 50), { timeoutMs: 5000 });
    const r = await bulwark(['switchover', '--edge', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`VIP handed over: ${b} → ${a}`));
    await activeIs(c.file, a);
    const okBefore = load.ok();
    await eventually(() => assert.ok(load.ok() > okBefore + 50), { timeoutMs: 5000 });
    const res = await load.stop();
    gaps['switchover --edge'] = res.gapMs;
    assert.equal(res.failed, 0, JSON.stringify(res));
    assert.ok(res.gapMs < 500, `switchover gap ${res.gapMs}ms`);
    const why = of(await edgeStatus(c.file), b).reason;
    // On a loaded machine (CI) the 600 ms lease can run out in the very instant of the hand-over;
    // the VIP still moves without a failed request, and the status says so instead.
    if (/last change: lost the lease/.test(why)) t.diagnostic(`${b}'s lease ran out as it handed over: ${why}`);
    else assert.match(why, new RegExp(`switchover requested: handing the VIP to ${a}`));
  });

  it('an active cut off from its voters lets go of the VIP, and the other takes it', async () => {
    const cutOff = (on: boolean): Promise<{ status: number }> => agentCall(stateDir, { address: ip(a), agentPort: AGENT }, 'POST', '/debug/standby-cut-off', { on });
    assert.equal((await cutOff(true)).status, 200);
    try {
      await activeIs(c.file, b);
      const e = await edgeStatus(c.file);
      assert.equal(of(e, a).state, 'passive');
      assert.match(of(e, a).reason, /lost the lease \([12] of 5 voters/);
    } finally {
      await cutOff(false);
    }
  });

  it('refuses bad votes and bad switchovers with a reason', async () => {
    const vote = (body: unknown): Promise<{ status: number; body: { error: string } }> => agentCall(stateDir, agentOf(31), 'POST', '/standby/vote', body);
    const stranger = await vote({ candidate: 'evil', priority: 1, healthy: true, want: 'acquire', leaseMs: 600 });
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.error, /"evil" is not an lb node of this cluster/);
    const bad = await vote({ candidate: 'lb-1', priority: 1, healthy: 'yes', want: 'acquire', leaseMs: 600 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /"healthy" must be true or false/);
    const passive = (await edgeStatus(c.file)).standby.find((s) => s.state === 'passive')!.node;
    const r = await agentCall<{ error: string }>(stateDir, agentOf(passive === 'lb-1' ? 1 : 2), 'POST', '/standby/switchover');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /does not hold the VIP/);
    const cli = await bulwark(['switchover', '--edge', '--to', 'lb-1', '-c', c.file]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /--to is for the database/);
  });
});
