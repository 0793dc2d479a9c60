/**
 * Replication lag in seconds: an idle primary must not make a replica look lagged, and the first
 * write after a quiet spell must not read as the whole spell.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/core/clock.js';
import { registerPgMetrics, replicationLagSeconds, ReplicationLag, type PgMetricsSource } from '../../src/observability/pg-metrics.js';
import { parseTextFormat } from '../../src/observability/scrape/text-format.js';

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

describe('replication lag in seconds after a quiet spell', () => {
  it('is bounded by the time since the replica was last seen caught up', () => {
    const hour = 3_600_000;
    // Caught up 1.5 s ago, last replayed commit 6 h ago: behind for at most 1.5 s.
    assert.equal(replicationLagSeconds({ primaryLsn: 5100, replayLsn: 5000, lastReplayedCommitAt: 0, caughtUpAt: 6 * hour - 1500, now: 6 * hour }), 1.5);
    // A busy primary: never seen caught up since long ago, but a commit replayed 20 ms ago.
    assert.equal(replicationLagSeconds({ primaryLsn: 9000, replayLsn: 8000, lastReplayedCommitAt: 6 * hour - 20, caughtUpAt: 0, now: 6 * hour }), 0.02);
    // Behind with no commit replayed yet, but seen caught up 3 s ago: 3 s, not unknown.
    assert.equal(replicationLagSeconds({ primaryLsn: 9, replayLsn: 5, lastReplayedCommitAt: undefined, caughtUpAt: 1000, now: 4000 }), 3);
  });

  it('the first write after hours idle does not read as hours of lag; a stuck replica still grows', () => {
    const clock = new ManualClock(Date.parse('2026-01-01T12:00:00Z'));
    const lag = new ReplicationLag();
    const lastCommit = clock.now();
    let primary = 5000;
    let replay = 5000;
    const scrape = () => lag.observe({ primaryLsn: primary, replayLsn: replay, lastReplayedCommitAt: lastCommit, now: clock.now() });
    // Six idle hours, scraped every second as the monitor does: caught up, 0 all along.
    for (let i = 0; i < 6 * 3600; i++) {
      clock.advance(1000);
      assert.equal(scrape(), 0);
    }
    // A write: the primary publishes its new position before the replica has replayed it.
    clock.advance(1000);
    primary = 5120;
    assert.equal(scrape(), 1, 'one scrape interval, not six hours');
    // The replica stays stuck: the lag grows from there, second by second, past ReplicationLagHigh's 30 s.
    clock.advance(44_000);
    assert.equal(scrape(), 45);
    // It replays the write: caught up again.
    replay = 5120;
    clock.advance(1000);
    assert.equal(scrape(), 0);
  });

  it('without having seen the replica caught up (a fresh agent), the commit age answers alone', () => {
    const lag = new ReplicationLag();
    assert.equal(lag.observe({ primaryLsn: 9000, replayLsn: 5000, lastReplayedCommitAt: 1000, now: 61_000 }), 60);
  });

  it('the exported gauge uses the bound: a db member\'s scrape after a quiet spell', async () => {
    const clock = new ManualClock(Date.parse('2026-01-01T12:00:00Z'));
    const lastCommit = clock.now() - 3 * 3_600_000;
    let primary = 7000;
    const reg = new Registry();
    const src: PgMetricsSource = {
      role: () => 'replica', isLeader: () => false, timeline: () => 1, streaming: () => true, syncStandby: () => false,
      leaderLsn: () => primary, now: () => clock.now(),
      query: async <R>() => [{ connections: 0, commits: 1, rollbacks: 0, recovery: true, lsn: 7000, replay_at: lastCommit, slots: [], standbys: [] }] as R[],
    };
    registerPgMetrics(reg, src);
    const lagNow = async (): Promise<number | undefined> =>
      parseTextFormat(await reg.metrics()).samples.find((s) => s.name === 'bulwark_pg_replication_lag_seconds')?.value;
    assert.equal(await lagNow(), 0, 'idle for three hours and caught up');
    clock.advance(1000);
    primary = 7200;
    assert.equal(await lagNow(), 1, 'the first write after the quiet spell: 1 s, not 3 h');
  });
});
