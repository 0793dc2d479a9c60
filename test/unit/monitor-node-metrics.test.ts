/** What nodes expose: disk and certificate metrics, db gauges absent (not 0) when unknown, and peer takeovers. */
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/core/clock.js';
import { registerNodeMetrics } from '../../src/observability/node-metrics.js';
import { registerPgMetrics, type PgMetricsSource } from '../../src/observability/pg-metrics.js';
import { StandbyMetrics } from '../../src/observability/standby-metrics.js';
import { parseTextFormat } from '../../src/observability/scrape/text-format.js';
import { TestPki } from '../harness/agent-tls.js';

async function samples(reg: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of parseTextFormat(await reg.metrics()).samples) out.set(`${s.name}${JSON.stringify(s.labels)}`, s.value);
  return out;
}

describe('node metrics', () => {
  it('expose the state folder\'s filesystem and the agent certificate\'s remaining life', async () => {
    const pki = new TestPki();
    try {
      const creds = await pki.node('web-1', 'web', '127.0.6.11');
      const reg = new Registry();
      registerNodeMetrics(reg, { stateDir: os.tmpdir(), agentCertPem: () => creds.cert });
      const s = await samples(reg);
      const size = s.get(`bulwark_disk_size_bytes${JSON.stringify({ path: os.tmpdir() })}`)!;
      const avail = s.get(`bulwark_disk_available_bytes${JSON.stringify({ path: os.tmpdir() })}`)!;
      assert.ok(size > 0 && avail >= 0 && avail <= size, `${avail} of ${size}`);
      const left = s.get('bulwark_agent_certificate_expiry_seconds{}')!;
      assert.ok(left > 300 * 86_400 && left <= 366 * 86_400, `${left} s left`);
    } finally {
      pki.remove();
    }
  });

  it('db gauges are absent while unknown instead of a misleading 0', async () => {
    const reg = new Registry();
    let role = 'stopped';
    let now = 0;
    const src: PgMetricsSource = {
      role: () => role, isLeader: () => false, timeline: () => (role === 'replica' ? 2 : undefined),
      streaming: () => (role === 'replica' ? true : undefined), syncStandby: () => (role === 'replica' ? false : undefined),
      leaderLsn: () => 1000, now: () => now,
      query: async <R>() => [{ connections: 3, commits: 10, rollbacks: 1, recovery: true, lsn: 1000, replay_at: null, slots: [], standbys: [] }] as R[],
    };
    registerPgMetrics(reg, src);
    const stopped = await samples(reg);
    for (const name of ['bulwark_pg_timeline', 'bulwark_pg_connections', 'bulwark_pg_commits_total', 'bulwark_pg_replication_lag_seconds', 'bulwark_pg_replica_streaming', 'bulwark_pg_sync_standby']) {
      assert.equal(stopped.has(`${name}{}`), false, `${name} absent while stopped`);
    }
    assert.equal(stopped.get('bulwark_pg_up{}'), 0);
    assert.equal(stopped.get('bulwark_pg_role{"state":"stopped"}'), 1);
    role = 'replica';
    now += 1000; // one scrape shares one query; the next scrape asks again
    const replica = await samples(reg);
    assert.equal(replica.get('bulwark_pg_timeline{}'), 2);
    assert.equal(replica.get('bulwark_pg_connections{}'), 3);
    assert.equal(replica.get('bulwark_pg_commits_total{}'), 10);
    assert.equal(replica.get('bulwark_pg_replication_lag_bytes{}'), 0);
    assert.equal(replica.get('bulwark_pg_replication_lag_seconds{}'), 0, 'caught up: 0 even though nothing was ever replayed');
    assert.equal(replica.get('bulwark_pg_replica_streaming{}'), 1);
  });

  it('counts a peer takeover, but not the start-up election', () => {
    const clock = new ManualClock(0);
    const reg = new Registry();
    const m = new StandbyMetrics(reg, () => 0, clock, 5000);
    const peer = async (): Promise<number> => (await samples(reg)).get('bulwark_vip_peer_takeovers_total{}')!;
    clock.advance(1000);
    m.set('active', 150); // a voter had briefly named the other lb at start-up
    return peer().then(async (n) => {
      assert.equal(n, 0);
      m.set('passive');
      clock.advance(60_000);
      m.set('active', 700);
      assert.equal(await peer(), 1);
      m.set('passive');
      m.set('active'); // no previous holder: an election, not a takeover
      assert.equal(await peer(), 1);
    });
  });
});
