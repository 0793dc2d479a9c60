/**
 * The VIP across real hosts: network namespaces on one bridge (a client, two lbs, two web servers,
 * a monitor), each running `bulwark agent`; the VIP moves by `ip addr` and gratuitous ARP. Under a
 * retrying client load from the client host: kill -9 of the active's agent, then a cut of the
 * active's host. Throughout, a sampler checks that the two lb hosts never carry the VIP at once,
 * and ARP from the client finds exactly one owner.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { BIN, tempCluster } from '../harness/cli.js';
import { eventually } from '../harness/eventually.js';
import { NetnsLab, labUnavailable } from '../harness/netns-lab.js';
import { skipUnlessCi } from '../harness/requirements.js';
import { VIP_LAB_HOSTS, VIP_LAB_NODES, startLabClient, vipHolders, vipLabYaml } from '../harness/vip-lab.js';

const SUBNET = '10.213.0';
const VIP = `${SUBNET}.100`;
const YAML = vipLabYaml(SUBNET, 'lab', '{ interface: eth0, min_hold: 1s }');

const skip = skipUnlessCi(labUnavailable(), 'netns standby tests');

describe('the VIP across hosts in network namespaces', { skip, timeout: 240_000 }, () => {
  const c = tempCluster(YAML);
  const lab = new NetnsLab('bwvip', SUBNET, c.dir);
  const agents = new Map<string, ChildProcess>();
  const overlaps: string[] = [];
  const gaps: Record<string, number> = {};
  let sampler: NodeJS.Timeout | undefined;

  const startAgent = (name: string): void => {
    agents.set(name, lab.spawn(name, [process.execPath, BIN, 'agent', '--node', name, '-c', c.file], name, { BULWARK_LOG_FORMAT: 'json' }));
  };
  const holders = (): string[] => vipHolders(lab, VIP);
  /** `bulwark status --json`, run from the client host (the only place that reaches every node). */
  const status = (): { edge: { active: string | null; standby: { node: string; state: string; reason: string }[] } } =>
    JSON.parse(lab.run('client', [process.execPath, BIN, 'status', '--json', '-c', c.file])) as never;
  const activeIs = (lb: string): Promise<void> => eventually(() => {
    assert.equal(status().edge.active, lb);
    assert.deepEqual(holders(), [lb]);
  }, { timeoutMs: 15_000, intervalMs: 100, message: `${lb} active and alone holding ${VIP}` });

  const startClient = (label: string): ReturnType<typeof startLabClient> => startLabClient(lab, `http://${VIP}/api/whoami`, label);
  const served = async (since: number, min = 50): Promise<void> => {
    await eventually(() => {
      const out = lab.run('client', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', `http://${VIP}/api/whoami`]);
      assert.equal(out, '200');
      assert.ok(Date.now() - since > min);
    }, { timeoutMs: 10_000 });
  };

  before(() => {
    lab.create(VIP_LAB_HOSTS);
    for (const n of VIP_LAB_NODES) startAgent(n);
    sampler = setInterval(() => {
      try {
        const h = holders();
        if (h.length > 1) overlaps.push(`${new Date().toISOString()}: ${h.join(' and ')} both carry ${VIP}`);
      } catch {
        /* a namespace going away at teardown */
      }
    }, 100);
  });

  after(async () => {
    clearInterval(sampler);
    await lab.stopAll();
    lab.destroy();
    console.log(`# VIP gaps across hosts: ${JSON.stringify(gaps)}`);
    if (process.env['BULWARK_KEEP_LAB']) console.log(`# lab logs kept in ${c.dir}`);
    else c.cleanup();
  });

  // Which lb wins the first election depends on which one saw its servers healthy first.
  let first = 'lb-1';
  let second = 'lb-2';

  it('one lb carries the VIP and is the only one answering ARP for it', async () => {
    await eventually(() => assert.equal(holders().length, 1), { timeoutMs: 15_000, intervalMs: 100 });
    first = holders()[0]!;
    second = first === 'lb-1' ? 'lb-2' : 'lb-1';
    await activeIs(first);
    await served(Date.now(), 0);
    assert.deepEqual(lab.arpAnswers('client', VIP), [lab.mac(first)]);
    assert.match(status().edge.standby.find((x) => x.node === second)!.reason, new RegExp(`standing by: ${first} holds the VIP`));
  });

  it('kill -9 of the active agent: its guard drops the VIP, the passive takes over in under a second', async () => {
    const client = startClient('client-kill');
    await served(Date.now(), 500);
    if (process.env['BULWARK_KEEP_LAB']) console.log(`# kill at ${new Date().toISOString()}`);
    process.kill(agents.get(first)!.pid!, 'SIGKILL'); // the agent alone, as the OOM killer would
    await activeIs(second);
    await served(Date.now(), 500);
    const res = await client.stop();
    gaps['kill -9'] = res.gapMs;
    if (process.env['BULWARK_KEEP_LAB']) console.log(JSON.stringify(res));
    assert.equal(res.failed, 0, JSON.stringify(res));
    assert.ok(res.gapMs < 1000, `gap ${res.gapMs}ms`);
    assert.deepEqual(lab.arpAnswers('client', VIP), [lab.mac(second)], `only ${second} answers ARP for the VIP`);
    startAgent(first);
    await eventually(() => assert.equal(status().edge.standby.find((x) => x.node === first)!.state, 'passive'), { timeoutMs: 15_000, intervalMs: 200 });
  });

  it('the active host cut off: it lets go, the other takes over; after the heal one owner, re-announced', async () => {
    const client = startClient('client-cut');
    await served(Date.now(), 500);
    lab.cut(second, true);
    // The cut-off host drops the VIP by itself once its lease runs out.
    await eventually(() => assert.ok(!lab.addresses(second).includes(VIP)), { timeoutMs: 3000, intervalMs: 50 });
    await activeIs(first);
    await served(Date.now(), 500);
    lab.cut(second, false);
    await served(Date.now(), 2500);
    const res = await client.stop();
    gaps['host cut off'] = res.gapMs;
    assert.equal(res.failed, 0, JSON.stringify(res));
    assert.ok(res.gapMs < 1000, `gap ${res.gapMs}ms`);
    assert.equal(status().edge.active, first, 'the healed host stays passive');
    assert.deepEqual(lab.arpAnswers('client', VIP), [lab.mac(first)]);
  });

  it('never had two hosts carrying the VIP at once', () => {
    assert.deepEqual(overlaps, []);
  });
});
