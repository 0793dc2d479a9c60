/**
 * The timeline events the monitor derives from consecutive scrape rounds (buildOverview →
 * topologyEvents), fed with rounds shaped like the agents' GET /status answers: bootstrap,
 * planned switchover and failover seen through the 1 s round without a primary, VIP takeover,
 * ejections across a takeover (each lb's counter is its own), server up/down and bans. And the
 * dashboard shows the kinds a cluster start produces as what they are, not as failovers.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { parseClusterText } from '../../src/config/index.js';
import { buildOverview, topologyEvents, type TopologyFacts } from '../../src/observability/scrape/topology.js';
import type { Round, TargetResult } from '../../src/observability/scrape/scraper.js';
import type { MonitorEvent } from '../../src/observability/store/history.js';
import { REPO } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';

const spec = parseClusterText(stackYaml({
  cluster: 'topo', net: '127.0.9', agentPort: 7700, appPort: 3000, edgePort: 8080, pgPort: 5432, routerPorts: [6432, 6433],
}), 'topo.yaml');

interface ServerState { up?: boolean; ejections?: number }
/** One round as the nodes would answer it; anything left out is an up node with a quiet default. */
interface World {
  down?: readonly string[];
  vip?: string | null;
  /** lb → `backend/server` → state (default: every server up, no ejections). */
  servers?: Record<string, Record<string, ServerState>>;
  primary?: string | null;
  /** db members that run but are not primary: their role (default replica). */
  dbRole?: Record<string, string>;
  bans?: Record<string, { frontend: string; client: string; until: string }[]>;
  /** What the primary says of its promotion (absent: an agent that does not say). */
  planned?: boolean;
}

function round(w: World, t = 0): Round {
  const targets: TargetResult[] = spec.nodes.map((node) => {
    const up = !(w.down ?? []).includes(node.name);
    if (!up) return { node, up, error: 'connect ECONNREFUSED', samples: null, durationMs: 1 };
    const status: Record<string, unknown> = { healthy: true, detail: 'ok' };
    if (node.role === 'lb') {
      const view = w.servers?.[node.name] ?? {};
      status['lb'] = {
        holdsVip: w.vip === node.name, standby: { state: w.vip === node.name ? 'active' : 'passive' },
        backends: spec.edge.backends.map((b) => ({
          name: b.name,
          servers: b.servers.map((s) => {
            const st = view[`${b.name}/${s.name}`] ?? {};
            return { name: s.name, address: `${s.host}:${s.port}`, up: st.up ?? true, backup: s.backup, draining: false, ejections: st.ejections ?? 0 };
          }),
        })),
      };
    }
    if (node.role === 'db') {
      const isPrimary = w.primary === node.name;
      status['db'] = {
        role: isPrimary ? 'primary' : w.dbRole?.[node.name] ?? 'replica', holdsLock: isPrimary, timeline: 1,
        streamingFrom: isPrimary ? null : w.primary ?? null,
        ...(isPrimary && w.planned !== undefined && { promotion: { at: new Date(t).toISOString(), planned: w.planned, from: null } }),
      };
    }
    return { node, up, samples: [], status, durationMs: 1, ...(w.bans?.[node.name] && { bans: w.bans[node.name] }) };
  });
  return { t, targets };
}

/** Feeds the worlds one round each (1 s apart, the first a baseline) and collects the events. */
function timeline(...worlds: World[]): MonitorEvent[][] {
  let facts: TopologyFacts | undefined;
  return worlds.map((w, i) => {
    const next = buildOverview(spec, round(w, i * 1000), () => null, []).facts;
    const events = topologyEvents(facts, next, i * 1000);
    facts = next;
    return events;
  });
}

const kinds = (events: MonitorEvent[]): string[] => events.map((e) => e.kind);
const steady = { vip: 'lb-1', primary: 'db-1' } as const;

describe('timeline events', () => {
  it('the first view is a baseline; nothing changing means no events', () => {
    assert.deepEqual(timeline(steady, steady, steady), [[], [], []]);
  });

  it('bootstrap: the first primary and the first VIP holder are neither a failover nor a takeover', () => {
    const [, first, second] = timeline({ vip: null, primary: null }, { vip: null, primary: 'db-1' }, { vip: 'lb-1', primary: 'db-1' });
    assert.deepEqual(first!.map((e) => [e.kind, e.node, e.message]), [['primary', 'db-1', 'db-1 is the primary']]);
    assert.deepEqual(second!.map((e) => [e.kind, e.node, e.message]), [['vip', 'lb-1', 'lb-1 holds the VIP (nobody did)']]);
    // Db members not answering yet at the monitor's first round: the same.
    const [, , late] = timeline({ vip: 'lb-1', down: ['db-1', 'db-2'] }, { vip: 'lb-1', primary: null }, steady);
    assert.deepEqual(kinds(late!), ['primary']);
  });

  it('a planned switchover through a round without a primary says switchover, naming both', () => {
    const [, gap, after] = timeline(steady, { vip: 'lb-1', primary: null, dbRole: { 'db-1': 'stopped' } }, { vip: 'lb-1', primary: 'db-2' });
    assert.deepEqual(gap!.map((e) => [e.kind, e.node, e.message]), [['no-primary', 'db-1', 'no primary (db-1 was)']]);
    assert.deepEqual(after!.map((e) => [e.kind, e.node, e.message]), [['switchover', 'db-2', 'switchover: db-2 replaced db-1 as the primary']]);
  });

  it('a switchover seen in one step (no round between) is a switchover too', () => {
    const [, after] = timeline(steady, { vip: 'lb-1', primary: 'db-2' });
    assert.deepEqual(kinds(after!), ['switchover']);
  });

  it('the new primary\'s own word decides: a crashed PostgreSQL behind a live agent is a failover', () => {
    // db-1's agent still answers (its PostgreSQL crashed): only db-2 knows it promoted unplanned.
    const gap = { vip: 'lb-1', primary: null, dbRole: { 'db-1': 'crashed' } };
    const [, , failover] = timeline(steady, gap, { vip: 'lb-1', primary: 'db-2', dbRole: { 'db-1': 'crashed' }, planned: false });
    assert.deepEqual(failover!.map((e) => [e.kind, e.message]), [['failover', 'failover: db-2 replaced db-1 as the primary']]);
    // And a hand-over whose old primary's agent went away meanwhile is still a switchover.
    const [, , switchover] = timeline(steady, { ...gap, down: ['db-1'] }, { vip: 'lb-1', primary: 'db-2', down: ['db-1'], planned: true });
    assert.deepEqual(kinds(switchover!).filter((k) => k !== 'node-down'), ['switchover']);
  });

  it('a dead primary replaced after rounds without one is a failover, naming the dead one', () => {
    const dead = { vip: 'lb-1', primary: null, down: ['db-1'] };
    const [, gone, gap, after] = timeline(steady, dead, dead, { vip: 'lb-1', primary: 'db-2', down: ['db-1'] });
    assert.deepEqual(kinds(gone!), ['node-down', 'no-primary']);
    assert.deepEqual(gap, []);
    assert.deepEqual(after!.map((e) => [e.kind, e.node, e.message]), [['failover', 'db-2', 'failover: db-2 replaced db-1 as the primary']]);
  });

  it('a round where no db member answers does not hide the change of hands', () => {
    const [, , after] = timeline(steady, { vip: 'lb-1', down: ['db-1', 'db-2'] }, { vip: 'lb-1', primary: 'db-2', down: ['db-1'] });
    assert.deepEqual(after!.filter((e) => e.kind === 'failover').map((e) => e.message), ['failover: db-2 replaced db-1 as the primary']);
  });

  it('the same primary back after a round without one is not a failover', () => {
    const [, gap, back] = timeline(steady, { vip: 'lb-1', primary: null }, steady);
    assert.deepEqual(kinds(gap!), ['no-primary']);
    assert.deepEqual(back!.map((e) => [e.kind, e.message]), [['primary', 'db-1 is the primary again']]);
  });

  it('a takeover through a round where nobody holds the VIP names the last holder', () => {
    const [, gap, after] = timeline(steady, { primary: 'db-1', vip: null, down: ['lb-1'] }, { primary: 'db-1', vip: 'lb-2', down: ['lb-1'] });
    assert.deepEqual(kinds(gap!), ['node-down']);
    assert.deepEqual(after!.map((e) => [e.kind, e.node, e.message]), [['takeover', 'lb-2', 'lb-2 took the VIP over from lb-1']]);
  });

  it('an ejection is one lb\'s counter going up, never the difference between two lbs\' counters', () => {
    // lb-1 (active) ejected web-1 three times over its life; lb-2, which gets no traffic, never.
    const lb1 = { 'app/web-1': { ejections: 3 } };
    const [, takeover, ejected] = timeline(
      { ...steady, servers: { 'lb-1': lb1 } },
      { primary: 'db-1', vip: 'lb-2', servers: { 'lb-1': lb1 } },
      { primary: 'db-1', vip: 'lb-2', servers: { 'lb-1': lb1, 'lb-2': { 'app/web-1': { ejections: 1 } } } },
    );
    assert.deepEqual(kinds(takeover!), ['takeover'], 'no ejection event from comparing lb-1\'s 3 with lb-2\'s 0, nor a recovery');
    assert.deepEqual(ejected!.map((e) => [e.kind, e.node, e.message]), [['ejected', 'web-1', 'server web-1 of backend app was ejected by passive health (on lb-2)']]);
    // The other way round: the new active lb has the lower counter; an ejection on it still shows.
    const [, , again] = timeline(
      { vip: 'lb-2', primary: 'db-1', servers: { 'lb-2': { 'app/web-2': { ejections: 5 } } } },
      { vip: 'lb-1', primary: 'db-1', servers: { 'lb-2': { 'app/web-2': { ejections: 5 } } } },
      { vip: 'lb-1', primary: 'db-1', servers: { 'lb-1': { 'app/web-2': { ejections: 1 } }, 'lb-2': { 'app/web-2': { ejections: 5 } } } },
    );
    assert.deepEqual(again!.map((e) => [e.kind, e.node]), [['ejected', 'web-2']]);
  });

  it('a restarted lb (its counter back at 0) is no ejection; servers go down and up in the active lb\'s view', () => {
    const [, restarted, down, up] = timeline(
      { ...steady, servers: { 'lb-2': { 'app/web-1': { ejections: 4 } } } },
      { ...steady, servers: { 'lb-2': { 'app/web-1': { ejections: 0 } } } },
      // lb-2 (passive) seeing web-2 down is not the cluster's view; lb-1 seeing web-1 down is.
      { ...steady, servers: { 'lb-1': { 'app/web-1': { up: false } }, 'lb-2': { 'app/web-2': { up: false } } } },
      steady,
    );
    assert.deepEqual(restarted, []);
    assert.deepEqual(down!.map((e) => [e.kind, e.node, e.message]), [['server-down', 'web-1', 'server web-1 of backend app is down']]);
    assert.deepEqual(up!.map((e) => [e.kind, e.node]), [['server-up', 'web-1']]);
  });

  it('a takeover onto an lb that saw a server differently is no server event', () => {
    const [, after] = timeline(
      { ...steady, servers: { 'lb-2': { 'app/web-1': { up: false } } } },
      { primary: 'db-1', vip: 'lb-2', servers: { 'lb-2': { 'app/web-1': { up: false } } } },
    );
    assert.deepEqual(kinds(after!), ['takeover']);
  });

  it('a new ban is one event, on the lb that holds it', () => {
    const ban = { frontend: 'www', client: '198.51.100.7', until: '2026-01-01T00:10:00.000Z' };
    const [, banned, still] = timeline(steady, { ...steady, bans: { 'lb-1': [ban] } }, { ...steady, bans: { 'lb-1': [ban] } });
    assert.deepEqual(banned!.map((e) => [e.kind, e.node, e.message]), [['ban', 'lb-1', '198.51.100.7 banned on frontend www of lb-1 until 2026-01-01T00:10:00.000Z']]);
    assert.deepEqual(still, []);
  });
});

describe('the dashboard\'s names for these kinds', () => {
  it('shows a cluster start as a primary / VIP holder, not as a failover or takeover', async () => {
    const f = await import(pathToFileURL(path.join(REPO, 'src/observability/dashboard/ui/format.js')).href) as { kindInfo(k: string): { label: string; group: string; tone: string } };
    assert.deepEqual([f.kindInfo('primary').label, f.kindInfo('primary').group, f.kindInfo('primary').tone], ['Primary', 'ha', 'good']);
    assert.deepEqual([f.kindInfo('vip').label, f.kindInfo('vip').group], ['VIP held', 'ha']);
    assert.equal(f.kindInfo('switchover').label, 'Switchover');
    assert.equal(f.kindInfo('no-primary').label, 'No primary');
  });
});
