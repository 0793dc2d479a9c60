/**
 * `npm run drill`: every fault drill of the multi-host lab (test/harness/cluster-drills.ts) on the
 * whole example topology in network namespaces (root only), `--rounds` times each on one cluster,
 * under a client load through the VIP. Prints a table (median client gaps, failed requests, writes
 * lost, recovery times, invariant violations) and writes it to docs/reliability.md between its
 * own markers. Exit code 1 when an invariant was violated, 2 when the lab could not run.
 *
 * Usage: npm run drill [-- --rounds N] [--only a,b] [--no-docs] [--keep]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { REPO } from '../test/harness/cli.js';
import { ClusterLab, LAB_STANDBY, LAB_SUBNET, clusterLabUnavailable } from '../test/harness/cluster-lab.js';
import { DRILLS, type DrillOutcome } from '../test/harness/cluster-drills.js';
import { median, sec, spread, writeDocSection } from './drill-report.js';

const HELP = `usage: npm run drill -- [options]
  --rounds N      runs of every drill (default 3)
  --only a,b      a subset of: ${DRILLS.map((d) => d.name).join(', ')}
  --no-docs       do not rewrite docs/reliability.md
  --keep          keep the lab's folder (cluster files, agent and etcd logs)
Exit code: 1 if an invariant was violated in any run; 2 if the lab could not run.`;

interface Options { rounds: number; only: string[]; docs: boolean; keep: boolean }

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string' }, only: { type: 'string' }, 'no-docs': { type: 'boolean' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds must be an integer from 1 to 20');
  const only = (values.only ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of only) if (!DRILLS.some((d) => d.name === o)) throw new Error(`--only: unknown drill ${JSON.stringify(o)} (one of ${DRILLS.map((d) => d.name).join(', ')})`);
  return { rounds, only, docs: !values['no-docs'], keep: values.keep === true };
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} [drill] ${line}\n`);
}

function table(runs: ReadonlyMap<string, DrillOutcome[]>): string {
  const rows = [
    '| drill | runs | read gap, median (range) | write gap, median (range) | failed reads (retried attempts) / failed writes, per run | acked writes lost | recovered after, median (range) | what "recovered" is | steady again after repair, median | invariants |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const d of DRILLS) {
    const os_ = runs.get(d.name);
    if (!os_?.length) continue;
    const f = os_.map((o) => o.figures);
    const bad = os_.filter((o) => o.violations.length > 0).length;
    rows.push(`| ${d.title} | ${os_.length} | ${spread(f.map((x) => x.readGapMs))} | ${spread(f.map((x) => x.writeGapMs))} | ${f.map((x) => `${x.failedReads} (${x.retriedReads}) / ${x.failedWrites}`).join(', ')} | ${f.reduce((n, x) => n + x.lost, 0)} of ${f.reduce((n, x) => n + x.acked, 0)}${f.some((x) => x.unverified) ? ` (${f.reduce((n, x) => n + x.unverified, 0)} unverifiable)` : ''} | ${spread(f.map((x) => x.recoverMs))} | ${d.recovered} | ${sec(median(f.map((x) => x.backMs).filter((x): x is number => x !== undefined)))} | ${bad ? `✘ ${bad} of ${os_.length} runs` : '✔'} |`);
  }
  return rows.join('\n');
}

function violationsList(runs: ReadonlyMap<string, DrillOutcome[]>): string {
  const lines: string[] = [];
  for (const [name, os_] of runs) os_.forEach((o, i) => { for (const v of o.violations) lines.push(`- ${name} #${i + 1}: ${v.replace(/\n/g, ' ')}`); });
  return lines.length ? lines.join('\n') : 'None.';
}

const INTRO = `## Multi-host drills (network-namespace lab)

\`npm run drill\` builds the whole example topology as separate hosts in Linux network namespaces
(root only): lb-1, lb-2, web-1, web-2, web-3 (backup), db-1, db-2, mon-1, three etcd hosts and a
client host on one bridge, subnet ${LAB_SUBNET}.0/24. Every node runs \`bulwark agent\` in its own host
with its own state folder and a certificate from the cluster CA, the host firewall enforced by
each agent; the database runs in sync mode on a 3-member etcd. The client host runs 2 paced
writers (POST /api/notes every 50 ms) and 2 retrying readers (GET /api/notes, a failed attempt
retried every 20 ms for up to 10 s) through the VIP while each drill breaks something, then
repairs it (restart, heal) and waits for the whole cluster to be steady again; finally every
acknowledged write is read back. Invariants checked in every run (DESIGN.md §5): never two lbs
carrying the VIP at once (each lb host watched every 20 ms) and never two members answering
/primary (each db host asked every 100 ms, on the host itself, so a cut-off member is watched
too); no acknowledged write lost; per drill, its bounds (takeover, ejection within the health
check's fall period, failover) and client errors (none for reads when an lb, a web server or the
replica dies — not even a retried attempt for a web server — none at all while the monitor is
down or etcd loses a member or stops).
Lab timing (shared 2-core machine): VIP lease ${LAB_STANDBY.leaseMs} ms, heartbeat ${LAB_STANDBY.heartbeatMs} ms, every node votes, health
checks every 500 ms (timeout 400 ms, fall 2), leader lock TTL 3 s, HA loop 500 ms.
`;

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const why = clusterLabUnavailable();
  if (why) {
    process.stderr.write(`npm run drill cannot run here: ${why}\n`);
    return 2;
  }
  const drills = DRILLS.filter((d) => opts.only.length === 0 || opts.only.includes(d.name));
  const started = Date.now();
  const loadAtStart = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const cl = new ClusterLab('bwdrl', log);
  const runs = new Map<string, DrillOutcome[]>();
  const stop = (sig: string): void => {
    log(`${sig}: removing the lab`);
    void cl.stop({ keep: opts.keep }).finally(() => process.exit(130));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    await cl.start();
    for (let r = 1; r <= opts.rounds; r++) {
      for (const d of drills) {
        log(`round ${r}/${opts.rounds}: ${d.title}`);
        const o = await d.run(cl, log);
        runs.set(d.name, [...(runs.get(d.name) ?? []), o]);
      }
    }
  } catch (err) {
    log(`the lab failed: ${(err as Error).message}`);
    await cl.stop({ keep: true });
    return 2;
  }
  await cl.stop({ keep: opts.keep });
  const totalS = Math.round((Date.now() - started) / 1000);
  const out = [
    `Latest run, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.version}; load average ${loadAtStart} at the start, ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (other sessions share the machine); ${totalS} s in all.`,
    '',
    table(runs),
    '',
    'Violations:',
    '',
    violationsList(runs),
  ].join('\n');
  process.stdout.write(`${out}\n`);
  if (opts.docs) {
    const file = path.join(REPO, 'docs/reliability.md');
    writeDocSection(file, 'lab', `${INTRO}\n${out}\n\nCommand: \`npm run drill -- --rounds ${opts.rounds}${opts.only.length ? ` --only ${opts.only.join(',')}` : ''}\``);
    log(`wrote ${path.relative(REPO, file)}`);
  }
  return [...runs.values()].some((os_) => os_.some((o) => o.violations.length > 0)) ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`npm run drill: ${(err as Error).message}\n`);
  process.exit(2);
});
