/**
 * Golden rulesets: the fixture topology → one nftables script per node, compared with the files
 * in test/fixtures/firewall (BULWARK_UPDATE_GOLDEN=1 rewrites them: review the diff). As root
 * with nft installed, each script must also load in nft's check mode.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { missing, skipUnlessCi } from '../harness/requirements.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterFile, parseClusterText, type ClusterSpec } from '../../src/config/index.js';
import { expectations, hostRuleset, openings } from '../../src/control-plane/host-firewall/index.js';
import { clusterPorts } from '../../src/control-plane/host-firewall/expectations.js';
import { MAX_PROBE_TARGETS } from '../../src/control-plane/host-firewall/probe.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/firewall');
const FIXTURE = path.join(FIXTURES, 'cluster.yaml');
const spec = loadClusterFile(FIXTURE);
/** The fixture topology with some of its text replaced. */
const variant = (...edits: [string, string][]): ClusterSpec => {
  let text = fs.readFileSync(FIXTURE, 'utf8');
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `the fixture no longer contains ${from}`);
    text = text.replace(from, to);
  }
  return parseClusterText(text, FIXTURE);
};
const nodeOf = (s: ClusterSpec, name: string) => s.nodes.find((n) => n.name === name)!;
const portsOf = (s: ClusterSpec, name: string): number[] => openings(s, nodeOf(s, name)).flatMap((o) => o.ports).sort((a, b) => a - b);

const skipNft = skipUnlessCi(missing({ root: true, tools: ['nft'], why: 'nft -c' }), 'nft -c checks');
const nftCheck = (script: string, name: string): void => {
  const tmp = path.join(os.tmpdir(), `bulwark-fw-${process.pid}-${name}.nft`);
  fs.writeFileSync(tmp, script);
  try {
    execFileSync('nft', ['-c', '-f', tmp], { stdio: 'pipe' });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
};

describe('host firewall rulesets', () => {
  for (const node of spec.nodes) {
    it(`${node.name} (${node.role}) matches its golden file`, () => {
      // The source path differs between checkouts: the golden files carry a placeholder.
      const text = hostRuleset(spec, node).replace(spec.sourcePath, 'cluster.yaml');
      const file = path.join(FIXTURES, `${node.name}.nft`);
      if (process.env['BULWARK_UPDATE_GOLDEN'] === '1') fs.writeFileSync(file, text);
      assert.equal(text, fs.readFileSync(file, 'utf8'));
    });

    it(`${node.name}: loads in nft -c`, { skip: skipNft }, () => nftCheck(hostRuleset(spec, node), node.name));
  }

  it('opens each role only what the topology needs', () => {
    const ports = (name: string): number[] => portsOf(spec, name);
    // 7700 twice: from members, and from admin networks (the CLI).
    assert.deepEqual(ports('lb-1'), [22, 80, 443, 5433, 7700, 7700]);
    assert.deepEqual(ports('web-1'), [22, 3000, 3001, 3002, 7700, 7700]); // 3001/3002: the admin backend and its check port
    assert.deepEqual(ports('web-2'), [22, 3000, 7700, 7700]);
    // 5432 twice: the PostgreSQL peers, and the lbs for the tcp frontend's backend; 2380: etcd peers.
    assert.deepEqual(ports('db-1'), [22, 2379, 2380, 5432, 5432, 7700, 7700]);
    assert.deepEqual(ports('db-2'), [22, 2379, 2380, 5432, 7700, 7700]);
    assert.deepEqual(ports('mon-1'), [22, 2379, 2380, 7700, 7700, 9443]); // 9443: the dashboard, admin networks only
    const pg = openings(spec, nodeOf(spec, 'db-1')).filter((o) => o.ports.includes(5432));
    assert.deepEqual([...pg[0]!.from].sort(), ['10.0.0.11', '10.0.0.22', 'fd00::12'], 'PostgreSQL: web nodes and the other db member');
    const app = openings(spec, nodeOf(spec, 'web-1')).find((o) => o.ports.includes(3000))!;
    assert.deepEqual(app.from, ['10.0.0.1', '10.0.0.2'], 'the app: only the lbs');
  });

  it('opens edge backend servers on their host to the lbs, by node reference or by address', () => {
    const [edge] = openings(spec, nodeOf(spec, 'db-1')).filter((o) => o.ports.includes(5432) && o.why.includes('edge backends'));
    assert.ok(edge, 'db-1 serves the tcp frontend pg (lb → 10.0.0.21:5432): the lbs must reach it');
    assert.deepEqual(edge.from, ['10.0.0.1', '10.0.0.2']);
    assert.match(edge.why, /5432 pg\/db-1/);
    assert.equal(openings(spec, nodeOf(spec, 'db-2')).filter((o) => o.why.includes('edge backends')).length, 0, 'db-2 serves no backend');
    const admin = openings(spec, nodeOf(spec, 'web-1')).find((o) => o.why.includes('edge backends'))!;
    assert.deepEqual([admin.ports, admin.from], [[3001, 3002], ['10.0.0.1', '10.0.0.2']]);
    assert.match(admin.why, /3001 admin\/web-1; 3002 admin\/web-1 health check/);
    // The app servers (node: web-1, port 3000) are already open to the lbs: no second rule.
    assert.equal(openings(spec, nodeOf(spec, 'web-1')).filter((o) => o.ports.includes(3000)).length, 1);

    // An address written another way still names the host; a DNS name never matches a node.
    const v6 = variant(['servers: [ { name: db-1, address: "10.0.0.21:5432" } ]', 'servers: [ { name: w2, address: "[fd00:0:0::12]:6000" }, { name: far, address: "db.example.com:5432" } ]']);
    assert.ok(openings(v6, nodeOf(v6, 'web-2')).some((o) => o.ports.includes(6000) && o.from.includes('10.0.0.1')));
    assert.equal(portsOf(v6, 'db-1').filter((p) => p === 5432).length, 1, 'db-1 no longer serves pg: only its PostgreSQL peers remain');
    assert.ok(v6.nodes.every((n) => !openings(v6, n).some((o) => o.why.includes('pg/far'))));
    // A check port some rule already opens to every lb (the agent port) adds nothing.
    const agentCheck = variant(['      health_check: { port: 3002 }\n', '      health_check: { port: 7700 }\n']);
    assert.deepEqual(portsOf(agentCheck, 'web-1'), [22, 3000, 3001, 7700, 7700]);
  });

  it('opens the etcd peer port between the etcd members only', () => {
    const peers = openings(spec, nodeOf(spec, 'db-1')).find((o) => o.ports.includes(2380))!;
    assert.deepEqual(peers.from, ['10.0.0.22', '10.0.0.31'], 'the other members, not every node');
    assert.ok(!portsOf(spec, 'web-1').includes(2380), 'web-1 runs no etcd member');
    const custom = variant(['endpoints: ["10.0.0.21:2379"', 'peer_port: 2390, endpoints: ["10.0.0.21:2379"']);
    assert.deepEqual(portsOf(custom, 'mon-1'), [22, 2379, 2390, 7700, 7700, 9443]);
    const single = variant(['endpoints: ["10.0.0.21:2379", "10.0.0.22:2379", "10.0.0.31:2379"]', 'endpoints: ["10.0.0.21:2379"]']);
    assert.ok(!portsOf(single, 'db-1').includes(2380), 'a single member has no peers');
    const embedded = variant(['dcs: { type: etcd, endpoints: ["10.0.0.21:2379", "10.0.0.22:2379", "10.0.0.31:2379"] }', 'dcs: { type: embedded, node: mon-1 }']);
    assert.ok(spec.nodes.every((n) => !portsOf(embedded, n.name).some((p) => p === 2379 || p === 2380)));
  });

  it('rate-limits ICMP errors and neighbour discovery, generously', () => {
    const text = hostRuleset(spec, nodeOf(spec, 'web-2'));
    const icmp = text.split('\n').filter((l) => /l4proto (icmp|ipv6-icmp)/.test(l));
    assert.equal(icmp.length, 5);
    for (const line of icmp) assert.match(line, /limit rate \d+\/second burst \d+ packets accept/, line);
    assert.match(text, /nd-router-advert \} ip6 hoplimit 255 limit rate 1000\/second/);
    assert.match(text, /parameter-problem \} limit rate 100\/second burst 200 packets/);
  });

  it('keeps every rule comment within the 128 bytes nftables takes, the whole reason above it', () => {
    const servers = Array.from({ length: 12 }, (_, i) => `{ name: database-server-${i}, address: "10.0.0.21:${6000 + i}" }`).join(', ');
    const many = variant(['servers: [ { name: db-1, address: "10.0.0.21:5432" } ]', `servers: [ ${servers} ]`]);
    const text = hostRuleset(many, nodeOf(many, 'db-1'));
    for (const [, comment] of text.matchAll(/comment "([^"]*)"/g)) assert.ok(Buffer.byteLength(comment!) <= 128, comment);
    assert.match(text, /# edge backends \(backend\/server\) from the load balancers: 6000 pg\/database-server-0;.*6011 pg\/database-server-11\n/);
    assert.match(text, /comment "edge backends [^"]*\.\.\."/);
    if (!skipNft) nftCheck(text, 'long-comments');
  });

  it('derives what verify expects between members', () => {
    const want = (from: string, to: string, port: number): boolean | undefined =>
      expectations(spec).find((e) => e.from.name === from && e.to.name === to && e.port === port)?.open;
    assert.equal(want('web-1', 'db-1', 5432), true);
    assert.equal(want('db-2', 'db-1', 5432), true);
    assert.equal(want('mon-1', 'db-1', 5432), false);
    assert.equal(want('lb-1', 'web-1', 3000), true);
    assert.equal(want('db-1', 'web-1', 3000), false);
    assert.equal(want('web-2', 'lb-1', 443), true, 'client_networks (::/0) cover the IPv6 web-2 too');
    assert.equal(want('web-2', 'lb-1', 7700), true, 'every member reaches every agent API');
    assert.equal(want('lb-1', 'db-1', 5432), true, 'the lbs reach the pg backend server');
    assert.equal(want('lb-2', 'web-1', 3002), true, 'and the admin backend\'s check port');
    assert.equal(want('lb-1', 'db-2', 5432), false, 'db-2 serves no backend');
    assert.equal(want('db-2', 'db-1', 2380), true);
    assert.equal(want('web-1', 'db-1', 2380), false, 'etcd peers only');
  });

  it('probes every node on every port the cluster uses, once per pair and port', () => {
    const ports = [22, 80, 443, 2379, 2380, 3000, 3001, 3002, 5432, 5433, 7700, 9443];
    assert.deepEqual(clusterPorts(spec), ports);
    const all = expectations(spec);
    const n = spec.nodes.length;
    assert.equal(all.length, n * (n - 1) * ports.length);
    assert.equal(new Set(all.map((e) => `${e.from.name} ${e.to.name} ${e.port}`)).size, all.length);
    const want = (from: string, to: string, port: number) => all.find((e) => e.from.name === from && e.to.name === to && e.port === port);
    // Ports a node does not open at all are probed too: a hole opened there by hand shows.
    assert.deepEqual([want('mon-1', 'web-1', 5432)?.open, want('mon-1', 'web-1', 5432)?.why], [false, 'web-1 does not open 5432']);
    assert.equal(want('db-1', 'lb-1', 3000)?.open, false);
    assert.equal(want('web-1', 'mon-1', 9443)?.open, false, 'the dashboard: admin networks only');
    assert.equal(want('web-1', 'mon-1', 9443)?.why, 'not among the sources of mon-1:9443');
    assert.equal(want('web-1', 'lb-2', 22)?.open, false, 'SSH: admin networks only');
    // The matrix is what the topology says, port by port: open exactly where an opening admits
    // (the fixture's sources are member addresses, /0 client networks and non-member admin networks).
    for (const e of all) {
      const admits = openings(spec, e.to).some((o) => o.ports.includes(e.port) && o.from.some((f) => f === e.from.address || f.endsWith('/0') && f.includes(':') === e.from.address.includes(':')));
      assert.equal(e.open, admits, `${e.from.name} → ${e.to.name}:${e.port}`);
    }
    // Each prober's targets fit in one probe request.
    assert.ok(all.filter((e) => e.from.name === 'lb-1').length <= MAX_PROBE_TARGETS);
  });

  it('keeps SSH closed when no admin network is configured', () => {
    const noAdmin = { ...spec, firewall: { ...spec.firewall, adminNetworks: [] } };
    assert.doesNotMatch(hostRuleset(noAdmin, spec.nodes[0]!), /dport (22|\{ 22)/);
  });
});
