/** Rejoining a stopped member: follow the primary with the data as it is, re-clone, or wait — table-driven. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lsnText, rejoinVerdict } from '../../src/control-plane/pg-ha/core/rejoin.js';
import type { MemberInfo, PgObservation } from '../../src/control-plane/pg-ha/core/types.js';

const stopped = (timeline: number, position: number, extra: Partial<PgObservation> = {}): PgObservation =>
  ({ state: 'stopped', walEnd: { timeline, position }, ...extra });
// db-1 promoted at 5000 (timeline 1 → 2), then again at 9000 (2 → 3); it has written up to 12000.
const LEADER: MemberInfo = { role: 'primary', timeline: 3, walPosition: 12_000, history: [{ timeline: 1, end: 5000 }, { timeline: 2, end: 9000 }] };

describe('rejoinVerdict', () => {
  const rows: [string, PgObservation, MemberInfo | undefined, 'follow' | 'reclone' | 'wait', RegExp][] = [
    ['old primary whose WAL ends exactly at the fork point (clean switchover) → follow',
      stopped(2, 9000), LEADER, 'follow', /ends at 0\/2328 on timeline 2, not past db-1's fork point 0\/2328/],
    ['older timeline, ends before the fork point (a replica stopped early) → follow', stopped(1, 4000), LEADER, 'follow', /not past db-1's fork point 0\/1388/],
    ['crashed primary with WAL past the fork point (flushed, never sent) → re-clone',
      stopped(2, 9008), LEADER, 'reclone', /past db-1's fork point 0\/2328: it holds WAL db-1 never had/],
    ['on the leader\'s own timeline, not past its position → follow', stopped(3, 11_000), LEADER, 'follow', /db-1's timeline, not past its position/],
    ['on the leader\'s own timeline but further than it has written → re-clone', stopped(3, 12_001), LEADER, 'reclone', /past db-1's position/],
    ['a timeline newer than the leader\'s → re-clone', stopped(4, 100), LEADER, 'reclone', /newer than db-1's timeline 3/],
    ['a timeline that is not in the leader\'s ancestry (a sibling branch) → re-clone',
      stopped(2, 100), { ...LEADER, history: [{ timeline: 1, end: 5000 }] }, 'reclone', /not in db-1's history/],
    ['timeline 1 everywhere (no failover yet) → follow', stopped(1, 700), { role: 'primary', timeline: 1, walPosition: 800, history: [] }, 'follow', /not past its position/],
    ['WAL end unknown → re-clone', { state: 'stopped', walEnd: { error: 'no pg_control' } }, LEADER, 'reclone', /cannot tell where my WAL ends \(no pg_control\)/],
    ['the data did not start last time → re-clone', stopped(2, 9000, { startFailed: 'PG_START_FAILED' }), LEADER, 'reclone', /did not start on this data/],
    ['leader not promoted yet (its key still says replica) → wait', stopped(2, 9000), { role: 'replica', timeline: 2, walPosition: 9000 }, 'wait', /does not run as primary yet/],
    ['leader key missing → wait', stopped(2, 9000), undefined, 'wait', /does not run as primary yet/],
    ['leader publishes no history → re-clone', stopped(2, 9000), { role: 'primary', timeline: 3, walPosition: 12_000 }, 'reclone', /publishes no timeline history/],
  ];
  for (const [name, pg, leader, kind, why] of rows) {
    it(name, () => {
      const v = rejoinVerdict(pg, 'db-1', leader);
      assert.equal(v.kind, kind);
      assert.match(v.why, why);
    });
  }

  it('lsnText prints positions as PostgreSQL does', () => {
    assert.equal(lsnText(0x402e508), '0/402E508');
    assert.equal(lsnText(2 ** 32 + 16), '1/10');
  });
});
