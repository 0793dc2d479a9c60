/**
 * `npm run drill:takeover`: how long clients lose the VIP when the active lb fails, measured in a
 * network-namespace lab (root only): a client host, two lb hosts, two web hosts and a monitor on
 * one bridge. The client runs 4 retrying keep-alive clients (a connect abandoned after 100 ms, a
 * retry every 20 ms) and the gap is the longest silence between two answers.
 *
 * Bulwark: kill -9 of the active agent, and the active host cut off (its cable pulled), each
 * `--rounds` times. keepalived (when installed), measured the same way on the same lab: unicast
 * VRRP at its default 1 s advert interval, nopreempt, a trivial HTTP server on each lb host, and
 * the active host cut off. Prints a table and rewrites docs/reliability.md between markers.
 *
 * Usage: npm run drill:takeover [-- --rounds N] [--no-keepalived] [--no-docs]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO, tempCluster } from '../test/harness/cli.js';
import { eventually } from '../test/harness/eventually.js';
import { NetnsLab, labUnavailable } from '../test/harness/netns-lab.js';
import { VIP_LAB_HOSTS, VIP_LAB_LBS, startLabClient, vipHolders, vipLabYaml } from '../test/harness/vip-lab.js';
import { writeDocSection } from './drill-report.js';

const SUBNET = '10.214.0';
const VIP = `${SUBNET}.100`;

interface Trial { gapMs: number; failed: number }
interface Row { system: string; scenario: string; trials: Trial[]; note: string }

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 0) || 5;
const withKeepalived = !args.includes('--no-keepalived');
const writeDocs = !args.includes('--no-docs');

const yaml = vipLabYaml(SUBNET, 'drill');

function log(msg: string): void {
  process.stderr.write(`[drill:takeover] ${msg}\n`);
}

const cluster = tempCluster(yaml);
const lab = new NetnsLab('bwdrill', SUBNET, cluster.dir);
let labCreated = false;

function holders(): string[] {
  return vipHolders(lab, VIP);
}

async function oneHolder(timeoutMs = 20_000): Promise<string> {
  return eventually(() => {
    const h = holders();
    if (h.length !== 1) throw new Error(`VIP on ${h.join(', ') || 'no host'}`);
    return h[0]!;
  }, { timeoutMs, intervalMs: 50 });
}

/** Run `fail` under the client load; the load stops once answers flow again for `settleMs`. */
async function measure(label: string, fail: () => void, settleMs = 1500): Promise<Trial> {
  const client = startLabClient(lab, `http://${VIP}/`, label);
  await new Promise((r) => setTimeout(r, 1500)); // warm: answers flowing
  const before = holders();
  fail();
  await eventually(() => {
    const h = holders();
    if (h.length !== 1 || h[0] === before[0]) throw new Error('no takeover yet');
  }, { timeoutMs: 20_000, intervalMs: 20 });
  await new Promise((r) => setTimeout(r, settleMs));
  const res = await client.stop();
  log(`${label}: gap ${res.gapMs} ms, ${res.failed} failed, ${res.ok} answers`);
  return { gapMs: res.gapMs, failed: res.failed };
}

async function drillBulwark(rows: Row[]): Promise<void> {
  const agents = new Map<string, number>();
  const start = (name: string): void => {
    agents.set(name, lab.spawn(name, [process.execPath, BIN, 'agent', '--node', name, '-c', cluster.file], `agent-${name}`, { BULWARK_LOG_FORMAT: 'json' }).pid!);
  };
  for (const n of ['web-1', 'web-2', 'mon-1', 'lb-1', 'lb-2']) start(n);
  await oneHolder();
  const kill: Trial[] = [];
  const cut: Trial[] = [];
  for (let i = 1; i <= rounds; i++) {
    const active = await oneHolder();
    kill.push(await measure(`bulwark-kill-${i}`, () => process.kill(agents.get(active)!, 'SIGKILL')));
    start(active);
    await new Promise((r) => setTimeout(r, 2000)); // the restarted agent's voter waits out one lease
    const now = await oneHolder();
    cut.push(await measure(`bulwark-cut-${i}`, () => lab.cut(now, true)));
    lab.cut(now, false);
    await new Promise((r) => setTimeout(r, 2000));
  }
  rows.push({ system: 'Bulwark', scenario: 'kill -9 of the active agent', trials: kill, note: 'lease 600 ms, heartbeat 100 ms (defaults)' });
  rows.push({ system: 'Bulwark', scenario: 'active host cut off', trials: cut, note: 'lease 600 ms, heartbeat 100 ms (defaults)' });
  await lab.stopAll();
}

function keepalivedConf(self: string, peer: string, priority: number): string {
  return `global_defs { enable_script_security }
vrrp_instance VI_1 {
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int 1
  unicast_src_ip ${self}
  unicast_peer { ${peer} }
  virtual_ipaddress { ${VIP}/24 dev eth0 }
}
`;
}

async function drillKeepalived(rows: Row[]): Promise<void> {
  const addr = (lb: string): string => `${SUBNET}.${lb === 'lb-1' ? 1 : 2}`;
  for (const [i, lb] of VIP_LAB_LBS.entries()) {
    const other = VIP_LAB_LBS[1 - i]!;
    const conf = path.join(cluster.dir, `keepalived-${lb}.conf`);
    fs.writeFileSync(conf, keepalivedConf(addr(lb), addr(other), 100 - 10 * i));
    lab.spawn(lb, ['keepalived', '-n', '-l', '-D', '-f', conf, '-p', path.join(cluster.dir, `ka-${lb}.pid`), '-r', path.join(cluster.dir, `vrrp-${lb}.pid`)], `keepalived-${lb}`);
    lab.spawn(lb, [process.execPath, '-e', "require('http').createServer((q, s) => s.end('ok')).listen(80)"], `http-${lb}`);
  }
  await oneHolder(30_000);
  const cut: Trial[] = [];
  for (let i = 1; i <= rounds; i++) {
    const now = await oneHolder(30_000);
    cut.push(await measure(`keepalived-cut-${i}`, () => lab.cut(now, true), 1500));
    lab.cut(now, false);
    await new Promise((r) => setTimeout(r, 4000)); // VRRP settles back to one master
  }
  rows.push({ system: 'keepalived', scenario: 'active host cut off', trials: cut, note: 'unicast VRRP, advert_int 1 s (default), nopreempt' });
  await lab.stopAll();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
}

function table(rows: Row[]): string {
  const lines = ['| system | failure | runs | client gap, median (range) | failed requests | settings |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const gaps = r.trials.map((t) => t.gapMs);
    lines.push(`| ${r.system} | ${r.scenario} | ${r.trials.length} | ${median(gaps)} ms (${Math.min(...gaps)}–${Math.max(...gaps)}) | ${r.trials.reduce((n, t) => n + t.failed, 0)} | ${r.note} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const why = labUnavailable();
  if (why) {
    process.stderr.write(`drill:takeover cannot run here: ${why}\n`);
    return 2;
  }
  let hasKeepalived = false;
  try {
    execFileSync('sh', ['-c', 'command -v keepalived'], { stdio: 'ignore' });
    hasKeepalived = true;
  } catch {
    log('keepalived is not installed (apt-get install -y keepalived): measuring Bulwark alone');
  }
  lab.create(VIP_LAB_HOSTS);
  labCreated = true;
  const rows: Row[] = [];
  await drillBulwark(rows);
  if (withKeepalived && hasKeepalived) await drillKeepalived(rows);
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const out = [
    `Takeover drill, ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.version}; load average ${load} at the end`,
    '',
    table(rows),
  ].join('\n');
  process.stdout.write(`${out}\n`);
  if (writeDocs) {
    const file = path.join(REPO, 'docs/reliability.md');
    writeDocSection(file, 'takeover', `${out}\n\nCommand: \`npm run drill:takeover -- --rounds ${rounds}\``);
    log(`wrote ${path.relative(REPO, file)}`);
  }
  const failed = rows.filter((r) => r.system === 'Bulwark').reduce((n, r) => n + r.trials.reduce((m, t) => m + t.failed, 0), 0);
  return failed > 0 ? 1 : 0;
}

async function cleanup(): Promise<void> {
  await lab.stopAll();
  if (labCreated) lab.destroy();
  cluster.cleanup();
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`drill:takeover: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup().catch(() => {});
    process.exit(2);
  },
);
