/**
 * The failover drill's tables: per cluster (mode × load) medians, the Patroni reference from
 * FIELD-NOTES.md, the project's goals, and the docs/reliability.md section between markers.
 */
import fs from 'node:fs';

export interface TrialResult {
  trial: number;
  startedAt: string;
  endedAt?: string;
  /** The primary whose node was killed, and the member that took over. */
  killed: string;
  newPrimary: string;
  killAt?: string;
  /** Commits per second acknowledged during the warm-up (load level). */
  commitsPerS?: number;
  /** Last write acknowledged by the old primary → first acknowledged by the new one (client view). */
  crashGapMs?: number;
  /** From the kill command's return to the new primary holding the lock / to its first acknowledged write. */
  killToPrimaryMs?: number;
  killToFirstAckMs?: number;
  /** The third member streaming from the new primary on its timeline (3-member clusters). */
  followMs?: number;
  /** `bulwark start` of the old primary → it streams from the new one on the new timeline. */
  rejoinMs?: number;
  rejoinDecisions: string[];
  switchoverAt?: string;
  switchoverFrom?: string;
  switchoverTo?: string;
  switchoverGapMs?: number;
  /** What `bulwark switchover` reported (lock hand-over as the agent saw it). */
  switchoverCliMs?: number;
  crashFailed: number;
  switchoverFailed: number;
  failedTotal?: number;
  failureReasons: Record<string, number>;
  /** Failed writes by phase (warmup, crash, rejoin, switchover) and reason. */
  failures: Record<string, Record<string, number>>;
  /** How long `bulwark kill` took (CLI start on a busy machine included). */
  killCmdMs?: number;
  acked: number;
  lost: { id: number; db: string; ackAt: string; phase: 'crash' | 'switchover' }[];
  unverified: number;
  verifyMs?: number;
  /** Most members answering /primary 200 at the same moment (must be ≤ 1). */
  maxWritable: number;
  errors: string[];
}

export interface ClusterResult {
  mode: 'async' | 'sync';
  load: 'paced' | 'heavy';
  members: number;
  trialsPlanned: number;
  trials: TrialResult[];
  skipped: number;
  errors: string[];
  evidence?: string;
}

const GOALS = { crashGapMs: 4000, switchoverGapMs: 1000, rejoinMs: 5000 };

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const sec = (ms: number | undefined): string => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);

/** "3.41 s (3.20–3.90)" over the defined values; "–" when none. */
export function spread(xs: readonly (number | undefined)[]): string {
  const v = xs.filter((x): x is number => x !== undefined);
  if (v.length === 0) return '–';
  const m = median(v)!;
  if (v.length === 1) return sec(m);
  return `${sec(m)} (${(Math.min(...v) / 1000).toFixed(2)}–${(Math.max(...v) / 1000).toFixed(2)})`;
}

function mdTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return [
    `| ${head!.join(' | ')} |`,
    `|${head!.map(() => '---').join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const lostInSwitchover = (t: readonly TrialResult[]): number => t.reduce((n, x) => n + x.lost.filter((l) => l.phase === 'switchover').length, 0);

export function formatTable(results: readonly ClusterResult[]): string {
  const rows: string[][] = [[
    'mode', 'load', 'db members', 'trials', 'commits/s', 'crash write gap, median (min–max)', 'acked writes lost: total (per trial)',
    'old primary rejoin, median (min–max)', 'switchover write gap, median (min–max)', 'failed requests: crash / switchover (per trial)',
  ]];
  for (const r of results) {
    const t = r.trials;
    const done = t.length;
    const lostTotal = t.reduce((n, x) => n + x.lost.length, 0);
    const unverified = t.reduce((n, x) => n + x.unverified, 0);
    const commits = median(t.map((x) => x.commitsPerS).filter((x): x is number => x !== undefined));
    rows.push([
      r.mode, r.load, String(r.members),
      `${done}${r.skipped ? ` (${r.skipped} skipped)` : ''}${t.some((x) => x.errors.length) || r.errors.length ? ' ⚠' : ''}`,
      commits === undefined ? '–' : String(Math.round(commits)),
      spread(t.map((x) => x.crashGapMs)),
      done === 0 ? '–' : `${lostTotal} (${t.map((x) => x.lost.length).join('/')})${lostInSwitchover(t) ? `, ${lostInSwitchover(t)} of them in planned switchovers` : ''}${unverified ? `, ${unverified} unverifiable` : ''}`,
      spread(t.map((x) => x.rejoinMs)),
      spread(t.map((x) => x.switchoverGapMs)),
      done === 0 ? '–' : `${t.map((x) => x.crashFailed).join('/')} / ${t.map((x) => x.switchoverFailed).join('/')}`,
    ]);
  }
  return mdTable(rows);
}

/** How the old primary rejoined, when the drill saw its decision (a follow can flash by between polls). */
function rejoinHow(decisions: readonly string[]): string {
  if (decisions.some((d) => d.startsWith('re-cloning'))) return ' (re-cloned)';
  if (decisions.some((d) => d.startsWith('rejoining as a replica'))) return ' (followed)';
  return '';
}

/** Every trial, one line each: what happened in order. */
export function formatTrials(results: readonly ClusterResult[]): string {
  const rows: string[][] = [[
    'cluster', '#', 'killed → new primary', 'new primary after kill cmd', 'crash gap', 'failed', 'third member following',
    'rejoin', 'switchover', 'gap', 'failed', 'acked', 'lost', 'notes',
  ]];
  for (const r of results) {
    for (const t of r.trials) {
      rows.push([
        `${r.mode}/${r.load}`, String(t.trial), `${t.killed} → ${t.newPrimary || '?'}`, sec(t.killToPrimaryMs), sec(t.crashGapMs), String(t.crashFailed),
        sec(t.followMs), sec(t.rejoinMs) + (t.rejoinMs === undefined ? '' : rejoinHow(t.rejoinDecisions)), t.switchoverFrom ? `${t.switchoverFrom} → ${t.switchoverTo}` : '–', sec(t.switchoverGapMs),
        String(t.switchoverFailed), String(t.acked), String(t.lost.length) + (t.lost.length ? ` (${t.lost.map((l) => `#${l.id} by ${l.db} in the ${l.phase}`).join(', ')})` : '') + (t.unverified ? ` (+${t.unverified} unverifiable)` : ''),
        t.errors.map((e) => e.replace(/\|/g, '/')).join('; ') || '',
      ]);
    }
    for (const e of r.errors) rows.push([`${r.mode}/${r.load}`, '', '', '', '', '', '', '', '', '', '', '', '', e.replace(/\|/g, '/').replace(/\n/g, ' ')]);
  }
  return mdTable(rows);
}

export const PATRONI = `Reference (FIELD-NOTES.md): Patroni 3.0 + etcd 3.4 + HAProxy 2.6 + PostgreSQL 15, 3 members, kill -9 of the whole primary node, 5–10 trials each:

| setting | crash write gap, median (range) | acked writes lost | old primary rejoin | planned switchover gap |
|---|---|---|---|---|
| Patroni defaults (ttl 30 s, loop 10 s, HAProxy check 3 s fall 3) | 27.6 s (26.2–34.3) | 0 | 5.9 s | 5.3 s (9–40 writes failed) |
| Patroni tuned (ttl 10 s, loop 2 s, retry 4 s, check 1 s fall 2), async, paced | 9.9 s (8.8–10.4) | 1 row in 1 of 10 trials | 9.6 s | 2.5 s |
| Patroni tuned + synchronous_mode, paced | 9.7 s (8.9–11.2) | 0 (2 ambiguous) | 7.1 s | 3.5 s |
| Patroni tuned, 8 unpaced writers (1,200–2,150 commits/s), async | 10.5 s | 18 rows in 5 of 10 trials | 4.3 s | 2.5 s |`;

export function goalsOf(results: readonly ClusterResult[]): { text: string; met: boolean } {
  const rows: string[][] = [['mode', 'load', `crash gap median < ${GOALS.crashGapMs / 1000} s`, `switchover gap median < ${GOALS.switchoverGapMs / 1000} s`, `rejoin median < ${GOALS.rejoinMs / 1000} s`, 'zero lost in sync mode, every trial']];
  let met = true;
  const check = (v: number | undefined, limit: number): string => {
    if (v === undefined) {
      met = false;
      return '– (no data)';
    }
    if (v >= limit) met = false;
    return `${v < limit ? '✔' : '✘'} ${sec(v)}`;
  };
  for (const r of results) {
    const med = (f: (t: TrialResult) => number | undefined): number | undefined => median(r.trials.map(f).filter((x): x is number => x !== undefined));
    const lost = r.trials.filter((t) => t.lost.length > 0).length;
    let lostCell = 'n/a (async)';
    if (r.mode === 'sync') {
      if (r.trials.length === 0) lostCell = '– (no data)';
      else lostCell = lost === 0 ? `✔ 0 in ${r.trials.length} trial(s)` : `✘ lost in ${lost} of ${r.trials.length} trial(s)`;
      if (lost > 0 || r.trials.length === 0) met = false;
    }
    rows.push([r.mode, r.load, check(med((t) => t.crashGapMs), GOALS.crashGapMs), check(med((t) => t.switchoverGapMs), GOALS.switchoverGapMs), check(med((t) => t.rejoinMs), GOALS.rejoinMs), lostCell]);
  }
  return { text: `Goals:\n\n${mdTable(rows)}`, met };
}

const INTRO = `# Reliability

How the database tier behaves when things break, measured end to end as a client sees it.

\`npm run drill:failover\` starts a fresh cluster (\`bulwark up\`: one lb, two web nodes running the
demo app, three db members, a monitor hosting the embedded DCS; default HA timing: ttl 3 s, loop
500 ms) for each replication mode (\`async\`, \`sync\`) and load profile (\`paced\`: one writer
committing every ~20 ms; \`heavy\`: 8 unpaced writers), waits for a primary with every replica
streaming (and a sync standby in sync mode), then runs trials of:

1. writers POST notes through the load balancer (the demo app commits each on the primary
   through the web node's db router before it answers 201);
2. \`bulwark kill\` the primary's node (SIGKILL to the agent, PostgreSQL and everything else it runs);
3. the **crash write gap**: from the last write the old primary acknowledged to the first one the
   new primary acknowledged, as the client saw it (each 201 names the member that committed it);
4. \`bulwark start\` the old node: **rejoin** is the time until its agent reports it as a replica
   streaming from the new primary on the new timeline (then its replay must advance). It follows
   with its data when its WAL ends at or before the new timeline's fork point, else it is
   re-cloned (the per-trial table says which, when the drill saw the decision);
5. one planned \`bulwark switchover\` under the same writers, and its write gap;
6. every acknowledged write is read back by id (through the load balancer, on the primary) and
   must come back with its text: anything else is a **lost acknowledged write**.

Failed requests are writes that did not get a 201 (most fail fast with 503 while there is no
primary; they are not lost writes: the client knows they failed). Their number depends on how
fast the client retries: the paced writer every 20 ms, each heavy writer ~5 ms after an instant
error. In 3-member clusters the third member must also follow the new primary (the time is in the
per-trial table). The goals: crash gap < 4 s
median, switchover gap < 1 s median, rejoin < 5 s median, and zero lost writes in sync mode in
every run. Timings come from a shared 2-core machine (other sessions run tests at the same time):
read them as ±50 % and compare only side by side in one run.

`;

export function writeReliabilityDocs(file: string, r: {
  mach: { date: string; nproc: number; cpu: string; kernel: string; node: string; postgres: string; load: string };
  endLoad: string; command: string; totalS: number; table: string; goals: string; results: readonly ClusterResult[];
}): void {
  const section = [
    `## Latest drill (${r.mach.date})`,
    '',
    `- Machine: ${r.mach.nproc} cores, ${r.mach.cpu}, Linux ${r.mach.kernel}; Node ${r.mach.node}; ${r.mach.postgres}`,
    `- Command: \`${r.command}\` (${r.totalS} s in all)`,
    `- Load average ${r.mach.load} at the start, ${r.endLoad} at the end (other sessions share the machine)`,
    '',
    r.table,
    '',
    r.goals,
    '',
    PATRONI,
    '',
    '### Every trial',
    '',
    formatTrials(r.results),
  ].join('\n');
  if (!fs.existsSync(file)) fs.writeFileSync(file, INTRO);
  writeDocSection(file, 'failover', section);
}

/**
 * Put `section` between `<!-- drill:NAME:begin -->` and `<!-- drill:NAME:end -->` in `file`
 * (appended when the markers are not there yet); every other section is kept as it is.
 */
export function writeDocSection(file: string, name: string, section: string): void {
  const begin = `<!-- drill:${name}:begin -->`;
  const end = `<!-- drill:${name}:end -->`;
  const block = `${begin}\n${section}\n${end}\n`;
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) fs.writeFileSync(file, text.slice(0, a) + block + text.slice(b + end.length).replace(/^\n/, ''));
  else fs.writeFileSync(file, `${text.replace(/\n*$/, '\n\n')}${block}`);
}
