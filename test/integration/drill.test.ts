/**
 * `bulwark drill all` against a real local cluster (two lbs, two web nodes, a synchronous
 * PostgreSQL pair, a monitor hosting the embedded DCS): every drill kills its victim under client
 * load, the cluster heals, the victim comes back, and no acknowledged write is lost. The gaps are
 * printed; the bounds asserted here are generous (a shared 2-core machine), the invariants strict.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bulwark, tempCluster } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';
import type { DrillRound } from '../../src/cli/verbs/drill.js';

const AGENT = 17715;
const skip = skipUnlessCi(missing({ tools: ['setpriv'], why: 'PostgreSQL under the drill' }), 'bulwark drill');

const YAML = stackYaml({
  cluster: 'drill-test', net: '127.0.15', agentPort: AGENT, appPort: 13015, edgePort: 18015, pgPort: 15415, routerPorts: [16415, 16416],
});

describe('bulwark drill against a running cluster', { skip, timeout: 420_000 }, () => {
  const c = tempCluster(YAML);

  before(async () => {
    const r = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '90s'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `up failed:\n${r.stdout}\n${r.stderr}`);
  });
  after(async () => {
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('refuses what it cannot run with a reason', async () => {
    const cut = await bulwark(['drill', 'cut-host', '-c', c.file]);
    assert.equal(cut.code, 2);
    assert.match(cut.stderr, /namespace lab .*npm run drill/);
    const rounds = await bulwark(['drill', 'kill-web', '--rounds', 'many', '-c', c.file]);
    assert.equal(rounds.code, 2);
    assert.match(rounds.stderr, /--rounds must be 1 to 20/);
  });

  it('every drill heals, recovers and loses no acknowledged write', async (t) => {
    const r = await bulwark(['drill', 'all', '--json', '-c', c.file], { timeoutMs: 400_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rounds = (JSON.parse(r.stdout) as { rounds: DrillRound[] }).rounds;
    const by = new Map(rounds.map((x) => [x.drill, x]));
    assert.deepEqual([...by.keys()], ['kill-active-lb', 'kill-web', 'kill-primary', 'kill-replica', 'kill-monitor', 'stop-dcs']);
    for (const x of rounds) {
      t.diagnostic(`${x.drill} (${x.victim}): read gap ${x.readGapMs} ms, write gap ${x.writeGapMs} ms, ${x.failedRequests} failed of ${x.failedRequests + x.okRequests}, `
        + `${x.writesLost}/${x.writesAcked} writes lost, healed ${x.healMs} ms, recovered ${x.recoverMs} ms`);
      assert.equal(x.writesLost, 0, `${x.drill}: acknowledged writes lost`);
      assert.equal(x.writesUnverified, 0, `${x.drill}: acknowledged writes that could not be read back`);
      assert.ok(x.writesAcked > 0, `${x.drill}: no write was acknowledged at all`);
      assert.ok(x.healMs >= 0, `${x.drill}: never healed`);
      assert.ok(x.recoverMs >= 0, `${x.drill}: ${x.victim} never healthy again`);
    }
    assert.ok(by.get('kill-active-lb')!.readGapMs < 5000, 'VIP takeover gap');
    // The edge retries idempotent requests on another server: a dead web node costs reads nothing.
    assert.ok(by.get('kill-web')!.readGapMs < 3000);
    assert.ok(by.get('kill-primary')!.writeGapMs < 20_000, 'failover gap');
    assert.equal(by.get('kill-monitor')!.victim, 'mon-1');
  });
});
