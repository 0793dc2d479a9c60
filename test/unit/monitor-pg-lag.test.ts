/** Replication lag in seconds: an idle primary must not make a replica look lagged. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { replicationLagSeconds } from '../../src/observability/pg-metrics.js';

describe('replication lag in seconds', () => {
  it('is 0 on a caught-up replica of an idle primary, however old the last commit', () => {
    const clock = new ManualClock(Date.parse('2026-01-01T12:00:00Z'));
    const lastCommit = clock.now();
    clock.advance(6 * 3_600_000); // six idle hours
    assert.equal(replicationLagSeconds({ primaryLsn: 5000, replayLsn: 5000, lastReplayedCommitAt: lastCommit, now: clock.now() }), 0);
    // Replay ahead of the primary's last published position (it is published once per HA loop): caught up.
    assert.equal(replicationLagSeconds({ primaryLsn: 5000, replayLsn: 5100, lastReplayedCommitAt: lastCommit, now: clock.now() }), 0);
  });

  it('is the age of the last replayed commit while the replica is behind', () => {
    const clock = new ManualClock(1_000_000);
    const lastCommit = clock.now();
    clock.advance(12_500);
    assert.equal(replicationLagSeconds({ primaryLsn: 9000, replayLsn: 5000, lastReplayedCommitAt: lastCommit, now: clock.now() }), 12.5);
  });

  it('is unknown without both positions, or behind with nothing replayed yet', () => {
    assert.equal(replicationLagSeconds({ primaryLsn: undefined, replayLsn: 5, lastReplayedCommitAt: 0, now: 1 }), undefined);
    assert.equal(replicationLagSeconds({ primaryLsn: 5, replayLsn: undefined, lastReplayedCommitAt: 0, now: 1 }), undefined);
    assert.equal(replicationLagSeconds({ primaryLsn: 9, replayLsn: 5, lastReplayedCommitAt: undefined, now: 1 }), undefined);
    assert.equal(replicationLagSeconds({ primaryLsn: 5, replayLsn: 5, lastReplayedCommitAt: undefined, now: 1 }), 0);
  });

  it('never goes negative when clocks disagree a little', () => {
    assert.equal(replicationLagSeconds({ primaryLsn: 9, replayLsn: 5, lastReplayedCommitAt: 2000, now: 1000 }), 0);
  });
});
