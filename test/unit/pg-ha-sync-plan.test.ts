/**
 * The sync plan keeps S_dcs empty or S_pg non-empty and within S_dcs: we walk it step by step
 * (applying each step as the loop would) and check the invariant after every step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planSync, type SyncInput } from '../../src/control-plane/pg-ha/core/sync-plan.js';
import type { SyncDoc } from '../../src/control-plane/pg-ha/core/types.js';

type Standby = SyncInput['standbys'][number];

function run(start: { pg: string[]; doc?: SyncDoc }, standbys: Standby[], opts: Partial<SyncInput> = {}, maxSteps = 10): { pg: string[]; doc: SyncDoc | undefined; steps: string[] } {
  let pg = start.pg;
  let doc = start.doc;
  const steps: string[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const step = planSync({ leader: 'db-1', mode: 'sync', strict: false, pgNames: pg, doc, standbys, excluded: new Set(), primaryPosition: 1000, ...opts });
    if (!step) break;
    steps.push(step.why);
    if (step.action.type === 'set-sync-pg') pg = [...step.action.names];
    else if (step.action.type === 'set-sync-dcs') doc = step.action.doc;
    // The invariant, after every single step: either nobody is promotable (S_dcs empty), or every
    // acknowledged commit is on a member of S_dcs (S_pg non-empty and within S_dcs).
    const dcs = doc?.members ?? [];
    if (dcs.length > 0) {
      assert.ok(pg.length > 0, `S_dcs ${dcs} promotable while async after "${step.why}"`);
      assert.ok(pg.every((n) => dcs.includes(n)), `S_pg ${pg} not within S_dcs ${dcs} after "${step.why}"`);
    }
  }
  return { pg, doc, steps };
}

describe('sync plan', () => {
  it('a new leader first claims the doc with S_dcs = S_pg', () => {
    const s = planSync({ leader: 'db-1', mode: 'sync', strict: false, pgNames: ['db-2'], doc: undefined, standbys: [], excluded: new Set(), primaryPosition: 0 });
    assert.deepEqual(s?.action, { type: 'set-sync-dcs', doc: { leader: 'db-1', members: ['db-2'] } });
  });

  it('from async: sync in PostgreSQL first, catch-up recorded, then promotable', () => {
    const caughtUp = run({ pg: [], doc: { leader: 'db-1', members: [] } }, [{ name: 'db-2', flushPosition: 1000, sync: true }]);
    assert.deepEqual(caughtUp.pg, ['db-2']);
    assert.deepEqual(caughtUp.doc?.members, ['db-2']);
    const behind = run({ pg: [], doc: { leader: 'db-1', members: [] } }, [{ name: 'db-2', flushPosition: 10, sync: true }]);
    assert.deepEqual(behind.pg, ['db-2']);
    assert.deepEqual(behind.doc?.members, [], 'a standby that has not caught up must not be promotable');
    assert.equal(behind.doc?.catchUp?.name, 'db-2');
  });

  it('a second standby: DCS first, then PostgreSQL', () => {
    const r = run({ pg: ['db-2'], doc: { leader: 'db-1', members: ['db-2'] } }, [
      { name: 'db-2', flushPosition: 1000, sync: true }, { name: 'db-3', flushPosition: 1000, sync: false }]);
    assert.deepEqual(r.steps, ['adding db-3 to the sync set', 'making db-3 a sync standby']);
    assert.deepEqual(r.pg, ['db-2', 'db-3']);
  });

  it('a dead standby is dropped from PostgreSQL first, then from the DCS once another has what it acknowledged', () => {
    const r = run({ pg: ['db-2', 'db-3'], doc: { leader: 'db-1', members: ['db-2', 'db-3'] } }, [{ name: 'db-2', flushPosition: 1000, sync: true }]);
    assert.deepEqual(r.steps, [
      'sync standby db-3 stopped streaming',
      'db-3 leaving the sync set once another sync standby has everything they acknowledged',
      'db-3 no longer synchronous (db-2 has every commit they acknowledged)',
    ]);
    assert.deepEqual(r.doc, { leader: 'db-1', members: ['db-2'] });
  });

  it('a standby leaving stays in the DCS set while the others are behind the position it may have acknowledged', () => {
    const r = run({ pg: ['db-2', 'db-3'], doc: { leader: 'db-1', members: ['db-2', 'db-3'] } }, [{ name: 'db-2', flushPosition: 900, sync: true }]);
    assert.deepEqual(r.pg, ['db-2']);
    assert.deepEqual(r.doc, { leader: 'db-1', members: ['db-2', 'db-3'], leaving: { names: ['db-3'], position: 1000 } });
  });

  it('a leaving standby that streams again forgets its recorded position before it rejoins S_pg', () => {
    const both = [{ name: 'db-2', flushPosition: 900, sync: true }, { name: 'db-3', flushPosition: 900, sync: false }];
    const r = run({ pg: ['db-2'], doc: { leader: 'db-1', members: ['db-2', 'db-3'], leaving: { names: ['db-3'], position: 1000 } } }, both);
    assert.deepEqual(r.steps, ['db-3 streaming again: no longer leaving', 'making db-3 a sync standby']);
    assert.deepEqual(r.doc, { leader: 'db-1', members: ['db-2', 'db-3'] });
  });

  it('a standby removed from the file (excluded) leaves while it still streams, the same way', () => {
    const both = [{ name: 'db-2', flushPosition: 1000, sync: true }, { name: 'db-3', flushPosition: 1000, sync: true }];
    const r = run({ pg: ['db-2', 'db-3'], doc: { leader: 'db-1', members: ['db-2', 'db-3'] } }, both, { excluded: new Set(['db-3']) });
    assert.deepEqual(r.pg, ['db-2']);
    assert.deepEqual(r.doc, { leader: 'db-1', members: ['db-2'] });
    assert.equal(r.steps.length, 3);
  });

  it('the last standby dies: nobody promotable first, then async so writes flow', () => {
    const r = run({ pg: ['db-2'], doc: { leader: 'db-1', members: ['db-2'] } }, []);
    assert.deepEqual(r.pg, []);
    assert.deepEqual(r.doc?.members, []);
    assert.match(r.steps[0]!, /nobody is promotable without loss/);
  });

  it('strict mode: the last standby dies and writes block (no change)', () => {
    const r = run({ pg: ['db-2'], doc: { leader: 'db-1', members: ['db-2'] } }, [], { strict: true });
    assert.deepEqual(r.steps, []);
    assert.deepEqual(r.pg, ['db-2']);
  });

  it('async mode clears both', () => {
    const r = run({ pg: ['db-2'], doc: { leader: 'db-1', members: ['db-2'] } }, [{ name: 'db-2', flushPosition: 1, sync: true }], { mode: 'async' });
    assert.deepEqual(r.pg, []);
    assert.deepEqual(r.doc?.members, []);
  });

  it('nofailover members are never sync standbys', () => {
    const r = run({ pg: [], doc: { leader: 'db-1', members: [] } }, [{ name: 'db-2', flushPosition: 1000, sync: true }], { excluded: new Set(['db-2']) });
    assert.deepEqual(r.pg, []);
  });
});
