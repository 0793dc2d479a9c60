/**
 * FirewallEnforcer fails closed: with a table that refuses scripts the way nft does, the first
 * apply throws (the node must not start), a refused re-apply throws and keeps the previous ruleset
 * enforced, the error shows in status() until an apply succeeds, and the periodic check logs.
 * The netns tests run the same against the real nft.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';
import { FirewallEnforcer, HostFirewallError, type NftTable } from '../../src/control-plane/host-firewall/index.js';

/** A kernel table in memory: load replaces it, unless the script contains REFUSED (then nft's error). */
class Table implements NftTable {
  text: string | undefined;
  refuseAll = false;
  async load(script: string): Promise<void> {
    if (this.refuseAll || script.includes('REFUSED')) throw new Error('nft -f -: Error: syntax error, unexpected REFUSED');
    this.text = script;
  }
  async current(): Promise<string | undefined> {
    return this.text;
  }
}

function setup(): { clock: ManualClock; table: Table; fw: FirewallEnforcer; logs: string[] } {
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void logs.push((JSON.parse(s) as { msg: string }).msg) } });
  const clock = new ManualClock(0);
  const table = new Table();
  return { clock, table, fw: new FirewallEnforcer(clock, log, 5000, table), logs };
}

/** Let the promise chain of a check run (the fake table answers in microtasks). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

it('the first apply failing throws, naming nft\'s message, and nothing is enforced', async () => {
  const { clock, table, fw } = setup();
  await assert.rejects(fw.enforce('table inet bulwark { REFUSED }'), (err: unknown) => {
    assert.ok(err instanceof HostFirewallError);
    assert.equal(err.code, 'BWK_FIREWALL_APPLY');
    assert.match(err.message, /could not be applied: nft -f -: Error: syntax error, unexpected REFUSED/);
    return true;
  });
  assert.equal(table.text, undefined);
  assert.match(fw.status().error ?? '', /unexpected REFUSED/);
  assert.equal(fw.status().appliedAt, null);
  assert.equal(clock.pending(), 0, 'no periodic check of a ruleset that was never applied');
});

it('a refused re-apply throws and the previous ruleset stays enforced; the error clears with the next good apply', async () => {
  const { clock, table, fw } = setup();
  await fw.enforce('v1');
  assert.equal(fw.status().error, null);
  await assert.rejects(fw.enforce('v2 REFUSED'), HostFirewallError);
  assert.equal(table.text, 'v1');
  assert.match(fw.status().error ?? '', /REFUSED/, 'visible in status');
  // Someone removes the table: the check restores v1, the ruleset last applied.
  table.text = undefined;
  clock.advance(5000);
  await settle();
  assert.equal(table.text, 'v1');
  await fw.enforce('v3');
  assert.equal(table.text, 'v3');
  assert.equal(fw.status().error, null);
  fw.stop();
});

it('the periodic restore logs its failures, and recovers', async () => {
  const { clock, table, fw, logs } = setup();
  await fw.enforce('v1');
  table.text = 'changed by hand';
  table.refuseAll = true;
  clock.advance(5000);
  await settle();
  assert.ok(logs.some((l) => /host firewall could not be applied: .*syntax error/.test(l)), logs.join('\n'));
  assert.equal(fw.status().corrections, 1);
  assert.match(fw.status().error ?? '', /syntax error/);
  table.refuseAll = false;
  clock.advance(5000);
  await settle();
  assert.equal(table.text, 'v1');
  assert.equal(fw.status().error, null);
  assert.ok(logs.some((l) => /re-applied: the table had been changed/.test(l)));
  fw.stop();
});
