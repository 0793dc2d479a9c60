/**
 * The whole example topology on separate hosts (network namespaces, root only; see
 * test/harness/cluster-lab.ts): each fault drill once under a client load through the VIP, with
 * the invariants of DESIGN.md §5 asserted — never two lbs carrying the VIP, never two members
 * answering /primary, no acknowledged write lost (sync replication), the drill's bounds and the
 * client errors it allows (test/harness/cluster-drills.ts). Figures go to the test's diagnostics;
 * `npm run drill` runs the same drills several times and tables them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterLab, clusterLabUnavailable } from '../harness/cluster-lab.js';
import { DRILLS } from '../harness/cluster-drills.js';
import { skipUnlessCi } from '../harness/requirements.js';

const skip = skipUnlessCi(clusterLabUnavailable(), 'the multi-host cluster lab');

describe('the example topology on separate hosts: fault drills', { skip, timeout: 480_000 }, () => {
  const lines: string[] = [];
  const cl = skip ? undefined : new ClusterLab('bwcl', (line) => lines.push(line));
  const keep = process.env['KEEP_CLUSTER_LAB'] === '1';
  let failed = false;

  before(async () => {
    await cl!.start();
  });

  after(async () => {
    // The logs of every host are the evidence when something failed.
    await cl?.stop({ keep: keep || failed });
    for (const l of lines) console.log(l);
  });

  for (const d of DRILLS) {
    it(`${d.title}: invariants hold`, async (t) => {
      const began = Date.now();
      const o = await d.run(cl!, (line) => lines.push(line));
      const f = o.figures;
      t.diagnostic(`read gap ${f.readGapMs} ms, write gap ${f.writeGapMs} ms; failed reads ${f.failedReads} (retried attempts ${f.retriedReads}), failed writes ${f.failedWrites}; ${f.acked} writes acknowledged, ${f.lost} lost; recovered (${d.recovered}) after ${f.recoverMs ?? '–'} ms; steady again ${f.backMs ?? '–'} ms after the repair`);
      for (const n of o.notes) t.diagnostic(n);
      if (o.violations.length) {
        failed = true;
        // CI keeps no files: what the agents said during the drill goes into the report.
        for (const l of cl!.evidence(began)) t.diagnostic(l);
      }
      assert.deepEqual(o.violations, []);
    });
  }
});
