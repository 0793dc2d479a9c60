/**
 * The whole example topology as separate hosts in network namespaces (root only), shared by
 * test/netns/cluster-lab.test.ts and `npm run drill`:
 *
 *   lb-1 .1  lb-2 .2  web-1 .11  web-2 .12  web-3 .13 (backup)  db-1 .21  db-2 .22  mon-1 .31
 *   etcd-1 .41  etcd-2 .42  etcd-3 .43  client .50          VIP .100      (subnet 10.217.0.0/24)
 *
 * Every node runs `bulwark agent --node NAME` in its own host with a state folder of its own (as
 * on separate machines): the test creates the cluster CA once and hands each host its node
 * certificate with `bulwark certs issue --node NAME --out`. The host firewall is enforced by each
 * agent (`firewall.host: enforce`): the client host is both the only client network and the only
 * admin network. The database's DCS is a real 3-member etcd (/usr/bin/etcd), one member per
 * etcd host (no bulwark firewall there: they are not cluster nodes), sync replication.
 *
 * Probes (lab-probe.ts) run in the client host (load, agent calls, read-back), in each lb host
 * (does this host carry the VIP?) and in each db host (does this member answer /primary?), so
 * both sides of a partition are watched on one clock.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, bulwark, demoAppYaml, tempCluster } from './cli.js';
import { ETCD_BIN, ETCD_MISSING, etcdInstalled } from './etcd.js';
import { eventually } from './eventually.js';
import { LabProbe } from './lab-probe-client.js';
import { NetnsLab, labUnavailable } from './netns-lab.js';
import { missing } from './requirements.js';

export const LAB_SUBNET = '10.217.0';
export const LAB_HOSTS = {
  'lb-1': 1, 'lb-2': 2, 'web-1': 11, 'web-2': 12, 'web-3': 13, 'db-1': 21, 'db-2': 22, 'mon-1': 31,
  'etcd-1': 41, 'etcd-2': 42, 'etcd-3': 43, client: 50,
} as const;
export type LabHostName = keyof typeof LAB_HOSTS;
export const LAB_NODES = ['lb-1', 'lb-2', 'web-1', 'web-2', 'web-3', 'db-1', 'db-2', 'mon-1'] as const;
export type LabNode = (typeof LAB_NODES)[number];
export const LAB_LBS = ['lb-1', 'lb-2'] as const;
export const LAB_DBS = ['db-1', 'db-2'] as const;
export type LabLb = (typeof LAB_LBS)[number];
export type LabDb = (typeof LAB_DBS)[number];
export const LAB_ETCD = ['etcd-1', 'etcd-2', 'etcd-3'] as const;
export type LabEtcd = (typeof LAB_ETCD)[number];

export const LAB_AGENT_PORT = 7700;
// Timings for a lab whose 8 agents, 3 etcd members, 2 PostgreSQL and the client share 2 cores
// with other work (load averages of 30+ were seen): the defaults (lease 600 ms, heartbeat 100 ms)
// flapped there, as event-loop stalls outgrew the lease's safety margin (docs/standby.md). Real
// hosts have CPUs of their own.
const HEALTH = { intervalMs: 500, timeoutMs: 400, fall: 2 };
export const LAB_STANDBY = { leaseMs: 2000, heartbeatMs: 250 };
export const LAB_HEALTH = HEALTH;

export const at = (h: LabHostName): string => `${LAB_SUBNET}.${LAB_HOSTS[h]}`;
export const LAB_VIP = `${LAB_SUBNET}.100`;

/** Why the lab cannot run here, or undefined. */
export function clusterLabUnavailable(): string | undefined {
  return labUnavailable() ?? missing({ root: true, tools: ['nft'], why: 'the cluster lab' }) ?? (etcdInstalled() ? undefined : ETCD_MISSING);
}

export function clusterLabYaml(): string {
  const etcd = LAB_ETCD.map((e) => `"${at(e)}:2379"`).join(', ');
  const node = (n: LabNode, role: string): string => `  - { name: ${n}, role: ${role}, address: ${at(n)} }`;
  return `# written by test/harness/cluster-lab.ts: one copy per host
cluster: lab
state_dir: state
agent: { port: ${LAB_AGENT_PORT} }
nodes:
${[node('lb-1', 'lb'), node('lb-2', 'lb'), node('web-1', 'web'), node('web-2', 'web'), node('web-3', 'web'), node('db-1', 'db'), node('db-2', 'db'), node('mon-1', 'monitor')].join('\n')}
firewall:
  host: enforce
  client_networks: [${at('client')}/32]
  admin_networks: [${at('client')}/32]
web:
${demoAppYaml(3000)}edge:
  vip: ${LAB_VIP}
  standby: { interface: eth0, lease: ${LAB_STANDBY.leaseMs}ms, heartbeat: ${LAB_STANDBY.heartbeatMs}ms }
  frontends:
    - { name: www, mode: http, port: 80, default_backend: app, access_log: false }
  backends:
    - name: app
      health_check: { path: /healthz, interval: ${HEALTH.intervalMs}ms, timeout: ${HEALTH.timeoutMs}ms, rise: 2, fall: ${HEALTH.fall} }
      servers: [ { node: web-1 }, { node: web-2 }, { node: web-3, backup: true } ]
database:
  mode: sync
  dcs: { type: etcd, endpoints: [${etcd}] }
`;
}

export interface DbView {
  role: string | null;
  holdsLock: boolean;
  timeline: number | null;
  streamingFrom: string | null;
  sync: { leader: string; members: string[] } | null;
  decision: string | null;
  fenced: { at: string; reason?: string } | null;
}

interface ServerView { name: string; up: boolean; backup: boolean }
interface LbView { holdsVip: boolean; backends?: { name: string; servers: ServerView[] }[] }

export interface Steady {
  readonly active: LabLb;
  readonly primary: LabDb;
  readonly replica: LabDb;
  readonly timeline: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ClusterLab {
  readonly lab: NetnsLab;
  readonly dir: string;
  readonly base = `http://${LAB_VIP}`;
  private readonly cleanupDir: () => void;
  private readonly agents = new Map<LabNode, ChildProcess>();
  private readonly etcds = new Map<LabEtcd, ChildProcess>();
  private readonly probeMap = new Map<string, LabProbe>();
  private created = false;

  /** `id` names the namespaces (`id-lb-1`, …): a test and the bench use different ones. */
  constructor(id: string, private readonly log: (line: string) => void = () => {}) {
    const c = tempCluster(clusterLabYaml());
    this.dir = c.dir;
    this.cleanupDir = c.cleanup;
    this.lab = new NetnsLab(id, LAB_SUBNET, c.dir);
  }

  hostFile(node: LabNode): string {
    return path.join(this.dir, 'hosts', node, 'cluster.yaml');
  }

  private get adminDir(): string {
    return path.join(this.dir, 'admin');
  }

  probe(host: 'client' | LabLb | LabDb): LabProbe {
    const p = this.probeMap.get(host);
    if (!p) throw new Error(`no probe on ${host}`);
    return p;
  }

  get client(): LabProbe {
    return this.probe('client');
  }

  /** Hosts, etcd, certificates, agents; resolves once the cluster is steady. */
  async start(timeoutMs = 240_000): Promise<Steady> {
    const t0 = Date.now();
    this.lab.create(LAB_HOSTS);
    this.created = true;
    for (const e of LAB_ETCD) this.startEtcd(e);
    await this.issueCertificates();
    for (const h of ['client', ...LAB_LBS, ...LAB_DBS] as const) this.probeMap.set(h, new LabProbe(this.lab, h, this.adminDir));
    await this.etcdHealthy(30_000);
    this.log(`hosts, etcd and certificates ready in ${Date.now() - t0} ms`);
    for (const n of LAB_NODES) this.startAgent(n);
    const st = await this.steady(Math.max(30_000, timeoutMs - (Date.now() - t0)));
    // Each agent applied its host's ruleset before it listened (firewall.host: enforce).
    for (const n of LAB_NODES) {
      const table = this.lab.run(n, ['nft', 'list', 'table', 'inet', 'bulwark']);
      if (!/policy drop/.test(table)) throw new Error(`${n} has no default-drop bulwark table:\n${table}`);
    }
    this.log(`cluster steady in ${Date.now() - t0} ms: ${st.active} active, ${st.primary} primary; every node's firewall applied`);
    return st;
  }

  /** The CA once (its own folder, as on an admin machine); each host gets its node's files only. */
  private async issueCertificates(): Promise<void> {
    const caFile = path.join(this.dir, 'ca', 'cluster.yaml');
    fs.mkdirSync(path.dirname(caFile), { recursive: true });
    fs.copyFileSync(path.join(this.dir, 'cluster.yaml'), caFile);
    const ca = await bulwark(['certs', 'ca', '-c', caFile]);
    if (ca.code !== 0) throw new Error(`bulwark certs ca: ${ca.stderr}`);
    const jobs = LAB_NODES.map(async (n) => {
      const file = this.hostFile(n);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.copyFileSync(path.join(this.dir, 'cluster.yaml'), file);
      const r = await bulwark(['certs', 'issue', '--node', n, '--out', path.join(path.dirname(file), 'state'), '-c', caFile]);
      if (r.code !== 0) throw new Error(`bulwark certs issue --node ${n}: ${r.stderr}`);
    });
    jobs.push(bulwark(['certs', 'issue', '--admin', '--out', this.adminDir, '-c', caFile]).then((r) => {
      if (r.code !== 0) throw new Error(`bulwark certs issue --admin: ${r.stderr}`);
    }));
    await Promise.all(jobs);
  }

  // ── processes ────────────────────────────────────────────────────────────────────────────

  startAgent(n: LabNode): void {
    const child = this.lab.spawn(n, [process.execPath, BIN, 'agent', '--node', n, '-c', this.hostFile(n)], `agent-${n}`, { BULWARK_LOG_FORMAT: 'json' });
    this.agents.set(n, child);
  }

  /**
   * SIGKILL a node's agent. `group`: its whole process group too (the app a web node runs is not
   * tied to its agent's life; PostgreSQL and the VIP guard are, and must clean up by themselves).
   */
  killAgent(n: LabNode, opts: { group?: boolean } = {}): Promise<void> {
    return killChild(this.agents.get(n), `agent ${n}`, opts.group === true);
  }

  startEtcd(e: LabEtcd): void {
    const url = (h: LabEtcd, port: number): string => `http://${at(h)}:${port}`;
    const dataDir = path.join(this.dir, 'etcd', e);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.etcds.set(e, this.lab.spawn(e, [
      ETCD_BIN, '--name', e, '--data-dir', dataDir,
      '--listen-client-urls', url(e, 2379), '--advertise-client-urls', url(e, 2379),
      '--listen-peer-urls', url(e, 2380), '--initial-advertise-peer-urls', url(e, 2380),
      '--initial-cluster', LAB_ETCD.map((m) => `${m}=${url(m, 2380)}`).join(','),
      '--initial-cluster-state', 'new', '--initial-cluster-token', 'bulwark-lab',
      '--logger', 'zap', '--log-level', 'warn',
    ], e));
  }

  killEtcd(e: LabEtcd): Promise<void> {
    return killChild(this.etcds.get(e), e, false);
  }

  /** The etcd members that answer with a leader, and which member that leader is. */
  async etcdStatus(): Promise<{ up: LabEtcd[]; leader: LabEtcd | undefined }> {
    const up: LabEtcd[] = [];
    const ids = new Map<string, LabEtcd>();
    let leaderId: string | undefined;
    await Promise.all(LAB_ETCD.map(async (e) => {
      const r = await this.client.call('http', { url: `http://${at(e)}:2379/v3/maintenance/status`, method: 'POST', body: '{}', timeoutMs: 1000 }).catch(() => undefined);
      if (r?.status !== 200) return;
      const s = JSON.parse(r.body) as { header?: { member_id?: string }; leader?: string };
      if (s.header?.member_id) ids.set(s.header.member_id, e);
      if (s.leader && s.leader !== '0') {
        leaderId = s.leader;
        up.push(e);
      }
    }));
    return { up, leader: leaderId === undefined ? undefined : ids.get(leaderId) };
  }

  async etcdHealthy(timeoutMs: number, members: readonly LabEtcd[] = LAB_ETCD): Promise<LabEtcd> {
    return eventually(async () => {
      const s = await this.etcdStatus();
      for (const m of members) if (!s.up.includes(m)) throw new Error(`${m} has no leader (up: ${s.up.join(', ') || 'none'})`);
      if (!s.leader) throw new Error('no etcd leader');
      return s.leader;
    }, { timeoutMs, intervalMs: 250, message: 'etcd healthy' });
  }

  cut(host: LabHostName, on: boolean): void {
    this.lab.cut(host, on);
  }

  // ── views ────────────────────────────────────────────────────────────────────────────────

  /** A db member's status, asked on its own host (answers during a cut too). */
  async db(m: LabDb): Promise<DbView | undefined> {
    const r = await this.probe(m).agent<{ db?: DbView }>({ address: at(m), agentPort: LAB_AGENT_PORT }, 'GET', '/status', undefined, 1000);
    return r?.status === 200 ? r.body.db : undefined;
  }

  async lb(l: LabLb): Promise<LbView | undefined> {
    const r = await this.probe(l).agent<{ lb?: LbView }>({ address: at(l), agentPort: LAB_AGENT_PORT }, 'GET', '/status', undefined, 1000);
    return r?.status === 200 ? r.body.lb : undefined;
  }

  /** The lb hosts carrying the VIP right now. */
  vipHolders(): LabLb[] {
    return LAB_LBS.filter((l) => this.lab.addresses(l).includes(LAB_VIP));
  }

  /** Nodes whose agent does not answer GET /status from the client host. */
  async silentNodes(): Promise<LabNode[]> {
    const answers = await Promise.all(LAB_NODES.map((n) => this.client.agent({ address: at(n), agentPort: LAB_AGENT_PORT }, 'GET', '/status', undefined, 1500)));
    return LAB_NODES.filter((_, i) => answers[i]?.status !== 200);
  }

  /**
   * Everything back to normal: every agent answers; one lb carries the VIP and sees web-1 and
   * web-2 up; one lock-holding primary; the other member streams from it on its timeline and is
   * the recorded sync standby; the site answers the client.
   */
  async steady(timeoutMs: number): Promise<Steady> {
    return eventually(async () => {
      const silent = await this.silentNodes();
      if (silent.length) throw new Error(`no answer from ${silent.join(', ')}`);
      const holders = this.vipHolders();
      if (holders.length !== 1) throw new Error(`VIP on ${holders.join(', ') || 'no lb'}`);
      const active = holders[0]!;
      const lb = await this.lb(active);
      const down = lb?.backends?.[0]?.servers.filter((s) => !s.backup && !s.up).map((s) => s.name);
      if (!lb || down === undefined || down.length) throw new Error(`${active} sees ${down?.join(', ') ?? 'no backend'} down`);
      const dbs = await Promise.all(LAB_DBS.map((m) => this.db(m)));
      const view = LAB_DBS.map((m, i) => `${m}: ${dbs[i] ? `${dbs[i]!.role}${dbs[i]!.holdsLock ? ' (lock)' : ''} tl ${dbs[i]!.timeline} from ${dbs[i]!.streamingFrom ?? '-'}` : 'no answer'}`).join('; ');
      const pi = dbs.findIndex((s) => s?.role === 'primary' && s.holdsLock);
      if (pi < 0 || dbs.filter((s) => s?.role === 'primary').length !== 1) throw new Error(`not one primary: ${view}`);
      const primary = LAB_DBS[pi]!;
      const replica = LAB_DBS[1 - pi]!;
      const p = dbs[pi]!;
      const r = dbs[1 - pi];
      if (r?.role !== 'replica' || r.streamingFrom !== primary || r.timeline !== p.timeline) throw new Error(`replica not streaming: ${view}`);
      if (!p.sync?.members.includes(replica)) throw new Error(`${replica} is not the recorded sync standby yet: ${view}`);
      const site = await this.client.call('http', { url: `${this.base}/api/whoami`, timeoutMs: 2000 }).catch((e: Error) => ({ status: 0, body: e.message }));
      if (site.status !== 200) throw new Error(`the site answers ${site.status}: ${site.body.slice(0, 100)}`);
      return { active, primary, replica, timeline: p.timeline ?? 0 };
    }, { timeoutMs, intervalMs: 300, message: 'the cluster lab to be steady' });
  }

  /**
   * What the agents said since `sinceMs` (epoch): every db agent's lines (its HA decisions) and
   * every other agent's warnings, at most `perAgent` lines each, the latest. The logs stay on the
   * machine that ran the lab; this is the part a failed drill prints.
   */
  evidence(sinceMs: number, perAgent = 40): string[] {
    const out: string[] = [];
    for (const n of LAB_NODES) {
      let text = '';
      try {
        text = fs.readFileSync(this.lab.logPath(`agent-${n}`), 'utf8');
      } catch {
        continue;
      }
      const picked = text.split('\n').filter((line) => {
        const m = /"time":"([^"]+)"/.exec(line);
        if (!m || Date.parse(m[1]!) < sinceMs) return false;
        return n.startsWith('db-') || /"level":"(warn|error|fatal)"/.test(line);
      });
      for (const line of picked.slice(-perAgent)) out.push(`${n}: ${line.slice(0, 400)}`);
    }
    return out;
  }

  /** Stop everything this lab started and remove its hosts and folder (`keep`: leave the folder). */
  async stop(opts: { keep?: boolean } = {}): Promise<void> {
    for (const p of this.probeMap.values()) p.close();
    await this.lab.stopAll();
    if (this.created) this.lab.destroy();
    if (opts.keep) this.log(`kept ${this.dir}`);
    else this.cleanupDir();
  }
}

/** SIGKILL a child this lab started (`group`: its whole process group) and wait for its exit. */
async function killChild(child: ChildProcess | undefined, what: string, group: boolean): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} is not running`);
  const gone = new Promise((r) => child.once('exit', r));
  process.kill(group ? -child.pid : child.pid, 'SIGKILL');
  await gone;
}
