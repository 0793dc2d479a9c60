/**
 * The dashboard's browser code outside the browser: it type-checks (plain JS modules with JSDoc
 * types, served as they are), and its pure parts — number formatting, axis ticks, the topology
 * and summary derived from /api/overview, the event merge — give the right answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../harness/cli.js';

const UI = path.join(REPO, 'src/observability/dashboard/ui');
const load = (file: string): Promise<any> => import(pathToFileURL(path.join(UI, file)).href);

const overview = (over: Record<string, unknown> = {}) => ({
  cluster: 't', generatedAt: '2026-01-01T00:00:00Z',
  nodes: [
    { name: 'lb-1', role: 'lb', address: '127.0.1.1', up: true, healthy: true },
    { name: 'lb-2', role: 'lb', address: '127.0.1.2', up: true, healthy: true },
    { name: 'web-1', role: 'web', address: '127.0.1.11', up: false, healthy: false, detail: 'connect ECONNREFUSED' },
    { name: 'web-2', role: 'web', address: '127.0.1.12', up: true, healthy: true },
    { name: 'web-3', role: 'web', address: '127.0.1.13', up: true, healthy: true },
    { name: 'db-1', role: 'db', address: '127.0.1.21', up: true, healthy: true },
    { name: 'db-2', role: 'db', address: '127.0.1.22', up: true, healthy: false },
    { name: 'mon-1', role: 'monitor', address: '127.0.1.31', up: true, healthy: true },
    { name: 'x-1', role: 'cache', address: '127.0.1.41', up: true, healthy: true },
  ],
  edge: {
    vip: '127.0.0.1', active: 'lb-2', standby: [{ node: 'lb-1', state: 'passive' }, { node: 'lb-2', state: 'active' }],
    backends: [{ name: 'app', servers: [
      { name: 'web-1', address: '127.0.1.11:3000', up: false, backup: false, draining: false },
      { name: 'web-2', address: '127.0.1.12:3000', up: true, backup: false, draining: true },
      { name: 'web-3', address: '127.0.1.13:3000', up: true, backup: true, draining: false },
    ] }],
  },
  database: { primary: 'db-1', timeline: 3, mode: 'sync', members: [
    { name: 'db-1', role: 'primary', lagBytes: null, lagSeconds: null, sync: false, streaming: false },
    { name: 'db-2', role: 'replica', lagBytes: 2048, lagSeconds: 0.25, sync: true, streaming: false },
  ] },
  alerts: [{ name: 'NodeDown', severity: 'critical', state: 'firing', labels: { node: 'web-1' }, annotations: {}, since: '2026-01-01T00:00:00Z' },
    { name: 'ReplicaNotStreaming', severity: 'warning', state: 'pending', labels: {}, annotations: {}, since: '2026-01-01T00:00:00Z' }],
  ...over,
});

describe('dashboard UI code', () => {
  it('type-checks against the DOM library', async () => {
    const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(process.execPath, [tsc, '-p', path.join(UI, 'tsconfig.json')], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, text: stdout + stderr }));
    });
    assert.equal(out.code, 0, out.text);
  });

  it('formats values by unit', async () => {
    const f = await load('format.js');
    assert.equal(f.formatValue('bytes', 0), '0 B');
    assert.equal(f.formatValue('bytes', 1536), '1.5 KiB');
    assert.equal(f.formatValue('bytes', 23 * 1024 * 1024), '23 MiB');
    assert.equal(f.formatValue('seconds', 0.0042), '4.2 ms');
    assert.equal(f.formatValue('seconds', 0.00085), '850 µs');
    assert.equal(f.formatValue('seconds', 1.25), '1.3 s');
    assert.equal(f.formatValue('s', 0.004), '4 ms');
    assert.equal(f.formatValue('ratio', 0.0012), '0.12 %');
    assert.equal(f.formatValue('ratio', 0.5), '50 %');
    assert.equal(f.formatValue('req/s', 1234), '1234/s');
    assert.equal(f.formatValue('req/s', 12_345), '12.3k/s');
    assert.equal(f.formatValue('connections', 42), '42');
    assert.equal(f.formatValue('widgets', 3), '3 widgets');
    assert.equal(f.formatValue('bytes', null), '–');
    assert.equal(f.formatValue('bytes', Number.NaN), '–');
  });

  it('picks round axis ticks, in whole KiB/MiB for bytes', async () => {
    const f = await load('format.js');
    assert.deepEqual(f.niceTicks(95, 4), [0, 25, 50, 75, 100]);
    assert.deepEqual(f.niceTicks(0.009, 3), [0, 0.005, 0.01]);
    assert.deepEqual(f.niceTicks(0, 3), [0, 1]);
    assert.deepEqual(f.ticksFor('bytes', 5.9 * 1024, 3), [0, 2048, 4096, 6144]);
    assert.deepEqual(f.ticksFor('seconds', 0.04, 2), [0, 0.02, 0.04]);
    assert.deepEqual(f.ticksFor('connections', 1.05, 3), [0, 1, 2, 3]);
  });

  it('says how long ago and names event kinds, known or not', async () => {
    const f = await load('format.js');
    const now = Date.parse('2026-01-01T12:00:00Z');
    assert.equal(f.formatAgo(now - 2000, now), 'just now');
    assert.equal(f.formatAgo(now - 42_000, now), '42 s ago');
    assert.equal(f.formatAgo(now - 180_000, now), '3 min ago');
    assert.equal(f.formatAgo(now - 3 * 3600_000, now), '3 h ago');
    assert.equal(f.kindInfo('failover').label, 'Failover');
    assert.equal(f.kindInfo('failover').group, 'ha');
    assert.equal(f.kindInfo('node_down').tone, 'bad');
    assert.equal(f.kindInfo('node-down').label, 'Node down', 'hyphens and underscores are one kind');
    assert.equal(f.canonicalKind('server-up'), 'server_up');
    assert.equal(f.canonicalKind('ejected'), 'ejection');
    assert.deepEqual(f.kindInfo('cert_renewed'), { label: 'Cert renewed', icon: '•', tone: 'info', group: 'other' });
  });

  it('derives the tiers, the VIP holder, the primary, lag and each node\'s state', async () => {
    const m = await load('model.js');
    const tiers = m.topology(overview()) as { id: string; note: string; nodes: { name: string; health: string; status: string; badges: { text: string; tone: string }[]; facts: string[]; detail: string | null }[] }[];
    assert.deepEqual(tiers.map((t) => t.id), ['lb', 'web', 'db', 'monitor', 'cache']);
    const node = (name: string) => tiers.flatMap((t) => t.nodes).find((n) => n.name === name)!;
    assert.deepEqual(node('lb-2').badges.map((b) => b.text), ['VIP 127.0.0.1']);
    assert.deepEqual(node('lb-1').badges.map((b) => b.text), ['passive']);
    assert.equal(node('web-1').status, 'down');
    assert.equal(node('web-1').health, 'bad');
    assert.equal(node('web-1').detail, 'connect ECONNREFUSED');
    assert.equal((node('web-1') as unknown as { showDetail: boolean }).showDetail, true, "a down node's detail is shown");
    assert.equal((node('lb-1') as unknown as { showDetail: boolean }).showDetail, false);
    assert.deepEqual(node('web-2').badges.map((b) => b.text), ['draining']);
    assert.equal(node('web-2').health, 'warn');
    assert.deepEqual(node('web-3').badges.map((b) => b.text), ['in rotation', 'backup']);
    assert.deepEqual(node('db-1').badges.map((b) => b.text), ['primary']);
    assert.deepEqual(node('db-1').facts, ['timeline 3']);
    assert.deepEqual(node('db-2').badges.map((b) => b.text), ['replica', 'sync', 'not streaming']);
    assert.deepEqual(node('db-2').facts, ['lag 2 KiB · 250 ms']);
    assert.equal(node('db-2').status, 'unhealthy');
    assert.equal(node('db-2').health, 'bad');
    assert.equal(tiers.find((t) => t.id === 'web')!.note, '1/3 healthy');
  });

  it('keeps a dead primary\'s mark but hides its stale facts; copes with no edge or database', async () => {
    const m = await load('model.js');
    const o = overview();
    o.nodes = o.nodes.map((n) => (n.name === 'db-1' ? { ...n, up: false, healthy: false } : n));
    const db1 = (m.topology(o) as { nodes: { name: string; badges: { text: string }[]; facts: string[] }[] }[]).flatMap((t) => t.nodes).find((n) => n.name === 'db-1')!;
    assert.deepEqual(db1.badges.map((b) => b.text), ['primary']);
    assert.deepEqual(db1.facts, []);
    const bare = overview({ edge: null, database: null, alerts: [] });
    assert.equal((m.topology(bare) as unknown[]).length, 5);
    assert.deepEqual(m.summary(bare).map((s: { label: string }) => s.label), ['Nodes healthy', 'Alerts']);
  });

  it('summarises the cluster in a line', async () => {
    const m = await load('model.js');
    assert.deepEqual(m.summary(overview()), [
      { label: 'Nodes healthy', value: '7/9', tone: 'warn' },
      { label: 'VIP holder', value: 'lb-2', tone: 'ok' },
      { label: 'Primary', value: 'db-1 · tl 3', tone: 'ok' },
      { label: 'Alerts', value: '1 firing · 1 pending', tone: 'bad' },
    ]);
    assert.equal(m.summary(overview({ database: { primary: null, timeline: 3, mode: 'async', members: [] } }))[2].tone, 'bad');
  });

  it('merges live and fetched events: newest first, no duplicates, bounded', async () => {
    const m = await load('model.js');
    const e = (at: string, kind = 'node_down') => ({ at: `2026-01-01T00:00:${at}Z`, kind, node: 'web-1', message: kind });
    const known = [e('05'), e('03')];
    assert.equal(m.mergeEvents(known, [e('05')], 10), known, 'nothing new: the same list');
    assert.deepEqual(m.mergeEvents(known, [e('04', 'failover'), e('06'), e('03')], 10).map((x: { at: string }) => x.at.slice(17, 19)), ['06', '05', '04', '03']);
    assert.equal(m.mergeEvents(known, [e('01'), e('02')], 3).length, 3);
  });
});
