/**
 * `bulwark drill NAME|all|list`: a failure drill against a running local cluster, under client
 * load through the edge. Each round kills the drill's victim, waits until the cluster serves
 * without it, starts it again and waits until every node is healthy; it reports the client gaps
 * (longest time without a successful read, and without an acknowledged write), failed requests, acknowledged writes lost, time to
 * heal and time to full recovery.
 */
import fs from 'node:fs';
import { CONFIG_OPTION, JSON_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import type { ClusterSpec } from '../../config/types.js';
import { BulwarkError } from '../../core/errors.js';
import { collectStatus, type ClusterStatusView } from '../cluster-status.js';
import { layoutOf } from '../../node/local-cluster/layout.js';
import { controlRequest } from '../../node/local-cluster/local-cluster.js';
import { caCertPath, caDirOf } from '../../control-plane/certs/index.js';
import { pollUntil } from '../poll.js';
import { DRILLS, drillNamed, type Drill } from '../drill/drills.js';
import { startDrillLoad } from '../drill/load.js';
import { verifyAcks } from '../drill/writes.js';

export interface DrillRound {
  drill: string;
  victim: string;
  readGapMs: number;
  /** 0 without a database (no writer). */
  writeGapMs: number;
  failedRequests: number;
  okRequests: number;
  writesAcked: number;
  /** Acknowledged, then read back with another text or not at all (404). */
  writesLost: number;
  /** Acknowledged, but could not be read back (still erroring after retries): neither lost nor confirmed. */
  writesUnverified: number;
  healMs: number;
  recoverMs: number;
  failures: readonly string[];
}

const HEAL_TIMEOUT_MS = 30_000;
const RECOVER_TIMEOUT_MS = 90_000;

export const drill: Verb = {
  name: 'drill',
  summary: 'Run a failure drill against the running local cluster under client load, and report gap, errors, writes lost and recovery time.',
  args: 'NAME|all|list',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION, json: JSON_OPTION,
    rounds: { type: 'string', description: 'rounds per drill (default 1); the report shows each and the median', valueName: 'N' },
  },
  details: `Drills: ${DRILLS.map((d) => d.name).join(', ')}. \`bulwark drill list\` says what each does.`,
  async run(parsed) {
    const what = parsed.positionals[0]!;
    if (what === 'list') {
      console.log(table([['DRILL', 'WHAT'], ...DRILLS.map((d) => [d.name, d.what])]));
      return 0;
    }
    const drills = what === 'all' ? DRILLS.filter((d) => d.name !== 'cut-host') : [drillNamed(what)];
    if (drills.some((d) => !d)) throw new BulwarkError('BWK_USAGE', `bulwark drill: unknown drill ${JSON.stringify(what)} (drills: ${DRILLS.map((d) => d.name).join(', ')}, or all, list)`);
    const roundsText = parsed.values['rounds'] ?? '1';
    const rounds = Number(roundsText);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new BulwarkError('BWK_USAGE', `bulwark drill: --rounds must be 1 to 20, got ${JSON.stringify(roundsText)}`);
    const spec = loadSpec(parsed);
    const json = parsed.values['json'] === true;
    const results: DrillRound[] = [];
    for (const d of drills as Drill[]) {
      for (let i = 0; i < rounds; i++) {
        const r = await runRound(spec, d, json ? () => {} : (l) => console.log(l));
        if (typeof r === 'string') {
          if (what !== 'all') throw new BulwarkError('BWK_USAGE', `bulwark drill ${d.name}: ${r}`);
          if (!json) console.log(`${d.name}: skipped (${r})`);
          break;
        }
        results.push(r);
      }
    }
    if (json) printJson({ rounds: results });
    else console.log(`\n${report(results)}`);
    return results.some((r) => r.writesLost > 0 || r.writesUnverified > 0) ? 1 : 0;
  },
};

async function runRound(spec: ClusterSpec, d: Drill, say: (line: string) => void): Promise<DrillRound | string> {
  const layout = layoutOf(spec);
  const never = d.refuse?.(spec);
  if (never) return never;
  // A drill starts from a healthy cluster with a victim to pick: right after the last round a
  // restarted member may be healthy but still catching up (not yet a streaming replica).
  let before!: ClusterStatusView;
  let pick!: ReturnType<Drill['pick']>;
  const ready = await pollUntil(async () => {
    before = await collectStatus(spec, 1000);
    pick = d.pick(spec, before);
    return before.nodes.every((n) => n.healthy) && 'node' in pick;
  }, RECOVER_TIMEOUT_MS, 250);
  if (!ready) {
    const sick = before.nodes.filter((n) => !n.healthy).map((n) => `${n.name} (${n.detail})`);
    throw new BulwarkError('BWK_NOT_RUNNING', `a drill starts from a healthy cluster; after ${RECOVER_TIMEOUT_MS / 1000}s: `
      + (sick.length > 0 ? `not healthy: ${sick.join(', ')}` : `no victim for ${d.name}: ${'refuse' in pick ? pick.refuse : ''}`));
  }
  if ('refuse' in pick) return pick.refuse;
  const victim = pick.node;
  const baseUrl = before.edge?.httpsUrl ?? before.edge?.url;
  if (!baseUrl) return 'the cluster has no edge to send client traffic through';
  const caFile = caCertPath(caDirOf(spec));
  const ca = baseUrl.startsWith('https:') && fs.existsSync(caFile) ? fs.readFileSync(caFile, 'utf8') : undefined;
  const load = startDrillLoad({ baseUrl, ...(ca && { ca }), readers: 4, writer: spec.database !== undefined, timeoutMs: 3000 });
  try {
    // A second of steady traffic first, so the gap is measured from a running client.
    await new Promise((r) => setTimeout(r, 1000));
    say(`${d.name}: killing ${victim}`);
    const killedAt = Date.now();
    const k = await controlRequest(layout, 'POST', `/kill?node=${encodeURIComponent(victim)}`);
    if (k.status !== 200) throw new BulwarkError('BWK_NOT_RUNNING', `kill ${victim}: ${(k.body as { error?: string }).error ?? `HTTP ${k.status}`}`);
    // Healed: the cluster's own view says it serves without the victim, and clients are answered again.
    const healed = await pollUntil(async () => d.healed(await collectStatus(spec, 1000), victim) && answeredSince(load.lastOkAt(), killedAt, spec.database !== undefined), HEAL_TIMEOUT_MS, 100);
    const healMs = Date.now() - killedAt;
    if (!healed) say(`${d.name}: not healed within ${HEAL_TIMEOUT_MS / 1000}s`);
    const s = await controlRequest(layout, 'POST', `/start?node=${encodeURIComponent(victim)}`);
    if (s.status !== 200) throw new BulwarkError('BWK_NOT_RUNNING', `start ${victim}: ${(s.body as { error?: string }).error ?? `HTTP ${s.status}`}`);
    const recovered = await pollUntil(async () => (await collectStatus(spec, 1000)).nodes.every((n) => n.healthy), RECOVER_TIMEOUT_MS, 200);
    const recoverMs = Date.now() - killedAt;
    if (!recovered) say(`${d.name}: ${victim} not healthy again within ${RECOVER_TIMEOUT_MS / 1000}s`);
    const r = await load.stop();
    const v = await verifyAcks(baseUrl, r.acked, { concurrency: 4, retryMs: 10_000, ...(ca && { ca }) });
    const round: DrillRound = {
      drill: d.name, victim, readGapMs: r.readGapMs, writeGapMs: r.writeGapMs, failedRequests: r.reads.failed + r.writes.failed, okRequests: r.reads.ok + r.writes.ok,
      writesAcked: r.acked.length, writesLost: v.lost.length, writesUnverified: v.unverified.length, healMs: healed ? healMs : -1, recoverMs: recovered ? recoverMs : -1, failures: r.failures,
    };
    say(`${d.name}: gaps ${round.readGapMs} ms (reads), ${round.writeGapMs} ms (writes), ${round.failedRequests} failed of ${round.failedRequests + round.okRequests}, `
      + `${round.writesLost} of ${round.writesAcked} acknowledged writes lost${round.writesUnverified ? ` (${round.writesUnverified} could not be read back)` : ''}, healed in ${fmt(round.healMs)}, recovered in ${fmt(round.recoverMs)}`);
    return round;
  } finally {
    await load.stop().catch(() => undefined);
  }
}

const answeredSince = (last: { read: number; write: number }, t: number, writes: boolean): boolean => last.read > t && (!writes || last.write > t);

const fmt = (ms: number): string => (ms < 0 ? 'never' : `${(ms / 1000).toFixed(1)} s`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
}

function unverified(rs: readonly DrillRound[]): string {
  const n = rs.reduce((a, r) => a + r.writesUnverified, 0);
  return n > 0 ? ` (${n} unverifiable)` : '';
}

export function report(rounds: readonly DrillRound[]): string {
  const names = [...new Set(rounds.map((r) => r.drill))];
  const rows = names.map((n) => {
    const rs = rounds.filter((r) => r.drill === n);
    const gap = (xs: number[]): string => `${median(xs)} ms${xs.length > 1 ? ` (${Math.min(...xs)}–${Math.max(...xs)})` : ''}`;
    return [
      n, String(rs.length), gap(rs.map((r) => r.readGapMs)), gap(rs.map((r) => r.writeGapMs)),
      String(rs.reduce((a, r) => a + r.failedRequests, 0)), `${rs.reduce((a, r) => a + r.writesLost, 0)} of ${rs.reduce((a, r) => a + r.writesAcked, 0)}${unverified(rs)}`,
      fmt(median(rs.map((r) => r.healMs))), fmt(median(rs.map((r) => r.recoverMs))),
    ];
  });
  return table([['DRILL', 'ROUNDS', 'READ GAP (median)', 'WRITE GAP (median)', 'FAILED REQUESTS', 'WRITES LOST', 'HEALED', 'RECOVERED'], ...rows]);
}
