/**
 * Which replica may serve reads: one streaming from the lock holder within its lag, and, while
 * the lock has no holder, one that was streaming from the last holder (measured against it);
 * never an old primary waiting to rejoin.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextLastStreamed, replicaReadLag } from '../../src/control-plane/pg-ha/core/replica-reads.js';
import type { PgObservation } from '../../src/control-plane/pg-ha/core/types.js';

const replica = (walPosition: number, streamingFrom?: string): PgObservation => ({ state: 'running', role: 'replica', walPosition, ...(streamingFrom && { streamingFrom }) });

describe('replicaReadLag', () => {
  it('streaming from the holder: lag against its published position', () => {
    assert.deepEqual(replicaReadLag(replica(900, 'db-1'), { leader: 'db-1', leaderPos: 1000 }, undefined), { bytes: 100, leaderLost: false });
    assert.deepEqual(replicaReadLag(replica(1200, 'db-1'), { leader: 'db-1', leaderPos: 1000 }, undefined), { bytes: 0, leaderLost: false });
  });

  it('not streaming from the holder, or the holder\'s position unknown: no reads', () => {
    assert.equal(replicaReadLag(replica(900), { leader: 'db-1', leaderPos: 1000 }, undefined), undefined);
    assert.equal(replicaReadLag(replica(900, 'db-3'), { leader: 'db-1', leaderPos: 1000 }, undefined), undefined);
    assert.equal(replicaReadLag(replica(900, 'db-1'), { leader: 'db-1', leaderPos: undefined }, undefined), undefined);
  });

  it('the lock lost its holder: a replica that streamed from it reads on, measured against its last position', () => {
    let last = nextLastStreamed(replica(900, 'db-1'), { leader: 'db-1', leaderPos: 1000 }, undefined);
    assert.deepEqual(last, { leader: 'db-1', leaderPos: 1000 });
    // The primary is cut off: the walreceiver may still say streaming, or have given up.
    const gone = { leader: undefined, leaderPos: undefined };
    last = nextLastStreamed(replica(950, 'db-1'), gone, last);
    assert.deepEqual(replicaReadLag(replica(950, 'db-1'), gone, last), { bytes: 50, leaderLost: true });
    assert.deepEqual(replicaReadLag(replica(950), gone, last), { bytes: 50, leaderLost: true });
    // ...but not one streaming from someone else.
    assert.equal(replicaReadLag(replica(950, 'db-3'), gone, last), undefined);
  });

  it('an old primary turned replica that never streamed from the last holder serves no reads', () => {
    const gone = { leader: undefined, leaderPos: undefined };
    assert.equal(replicaReadLag(replica(5000), gone, undefined), undefined);
    // Followed the holder but not streaming yet: nothing remembered.
    assert.equal(nextLastStreamed(replica(5000), { leader: 'db-2', leaderPos: 4000 }, { leader: 'db-1', leaderPos: 1 }), undefined);
  });

  it('a promoted or stopped member forgets, and is no replica', () => {
    const last = { leader: 'db-1', leaderPos: 1000 };
    const primary: PgObservation = { state: 'running', role: 'primary', walPosition: 1000 };
    assert.equal(nextLastStreamed(primary, { leader: undefined, leaderPos: undefined }, last), undefined);
    assert.equal(replicaReadLag(primary, { leader: undefined, leaderPos: undefined }, last), undefined);
    assert.equal(replicaReadLag({ state: 'stopped' }, { leader: undefined, leaderPos: undefined }, last), undefined);
  });
});
