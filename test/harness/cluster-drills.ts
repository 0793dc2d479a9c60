/**
 * Fault drills on the cluster lab (cluster-lab.ts), shared by test/netns/cluster-lab.test.ts (each
 * once, invariants asserted) and `npm run drill` (each N times, figures tabled).
 *
 * Every drill runs the same frame: the cluster steady → watches on both lbs (does this host carry
 * the VIP, every 20 ms) and both db members (does this member answer /primary 200, every 100 ms,
 * asked on its own host so a cut does not blind it) → a client load from the client host through
 * the VIP (2 paced writers POSTing notes, 2 retrying readers of GET /api/notes) → the fault → the
 * drill's own "recovered" condition → the repair → the cluster steady again → every acknowledged
 * write read back. The invariants of DESIGN.md §5 that apply become `violations`; the figures
 * are what a client saw.
 */
import { LAB_AGENT_PORT, LAB_DBS, LAB_ETCD, LAB_HEALTH, LAB_LBS, LAB_STANDBY, LAB_VIP, at, sleep, type ClusterLab, type LabDb, type LabLb, type Steady } from './cluster-lab.js';
import { overlaps, type LoadResult, type Period } from './lab-probe-client.js';
import { eventually } from './eventually.js';
import { countReasons, longestWriteGap } from '../../src/cli/drill/writes.js';

export interface DrillFigures {
  /** Longest silence between two answers of the retrying readers. */
  readGapMs: number;
  /** Longest time between two acknowledged writes. */
  writeGapMs: number;
  /** Reads that got no answer within their 10 s deadline, and attempts the readers had to retry. */
  failedReads: number;
  retriedReads: number;
  /** Writes answered with anything but 201 from the fault on (not retried: a POST is not idempotent). */
  failedWrites: number;
  acked: number;
  lost: number;
  unverified: number;
  /** Fault → the drill's recovered condition (new VIP holder, new primary's first write, …). */
  recoverMs?: number;
  /** Repair (restart, heal) → the whole cluster steady again. */
  backMs?: number;
}

export interface DrillOutcome {
  readonly drill: string;
  readonly figures: DrillFigures;
  /** Broken invariants (DESIGN.md §5) and missed bounds: must be empty. */
  readonly violations: string[];
  readonly notes: string[];
}

export interface Drill {
  readonly name: string;
  readonly title: string;
  /** What "recovered" means for this drill (the docs print it). */
  readonly recovered: string;
  run(cl: ClusterLab, log: (line: string) => void): Promise<DrillOutcome>;
}

/** Generous bounds on a busy shared 2-core machine: the figures are reported, these only catch breakage. */
export const BOUNDS = {
  takeoverMs: LAB_STANDBY.leaseMs + 4_000,
  ejectMs: LAB_HEALTH.intervalMs * LAB_HEALTH.fall + LAB_HEALTH.timeoutMs + 2_000,
  failoverMs: 20_000,
  steadyMs: 180_000,
  /** How long a "no effect" drill watches: three leader-lock TTLs (3 s each). */
  observeMs: 9_000,
};

/** What clients may not see in a drill (checked on its figures). */
interface Expect {
  /** Every read answered within its deadline (the retrying readers may retry). */
  readonly noFailedReads?: boolean;
  /** Not even a retry: a dead web server costs idempotent requests nothing (§5.3). */
  readonly noRetriedReads?: boolean;
  readonly noFailedWrites?: boolean;
}

interface Frame {
  readonly st: Steady;
  readonly violations: string[];
  readonly notes: string[];
  readonly figures: Partial<DrillFigures>;
  faultAt: number;
  repairAt: number | undefined;
  /** The member expected to take over: recovery is its first acknowledged write (from the acks). */
  newPrimary?: LabDb;
}

const WRITERS = 2;
const READERS = 2;

async function progress(cl: ClusterLab): Promise<{ acks: number; reads: number; lastDb: string | undefined }> {
  const p = await cl.client.call('load.progress', {});
  return { acks: p.acks, reads: p.reads, lastDb: p.lastAck?.db };
}

/** Until fn returns true (polled every intervalMs): the time since the fault, or undefined on timeout. */
async function sinceFault(f: Frame, fn: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - f.faultAt;
    await sleep(intervalMs);
  }
  return undefined;
}

async function frame(cl: ClusterLab, name: string, log: (line: string) => void, expect: Expect, body: (f: Frame) => Promise<void>): Promise<DrillOutcome> {
  const st = await cl.steady(BOUNDS.steadyMs);
  const f: Frame = { st, violations: [], notes: [], figures: {}, faultAt: 0, repairAt: undefined };
  for (const l of LAB_LBS) await cl.probe(l).call('watch.start', { name: 'vip', watch: { kind: 'address', address: LAB_VIP, intervalMs: 20 } });
  for (const m of LAB_DBS) await cl.probe(m).call('watch.start', { name: 'primary', watch: { kind: 'agent', address: at(m), agentPort: LAB_AGENT_PORT, path: '/primary', intervalMs: 100 } });
  await cl.client.call('load.start', { base: cl.base, writers: WRITERS, paceMs: 50, readers: READERS, readPath: '/api/notes?limit=5', maxMs: 300_000, tag: `${name}-${Date.now()}` });
  let load: LoadResult | undefined;
  try {
    await eventually(async () => {
      const p = await progress(cl);
      if (p.acks < 20 || p.reads < 20) throw new Error(`${p.acks} writes and ${p.reads} reads answered so far`);
    }, { timeoutMs: 30_000, intervalMs: 200, message: 'the client load to flow before the fault' });
    await body(f);
    // The load runs on until writes flow again after the repair too.
    const before = (await progress(cl)).acks;
    await eventually(async () => {
      if ((await progress(cl)).acks < before + 10) throw new Error('writes are not flowing after the repair');
    }, { timeoutMs: 30_000, intervalMs: 100 }).catch((err: Error) => f.violations.push(err.message));
  } catch (err) {
    f.violations.push(`the drill did not complete: ${(err as Error).message}`);
  } finally {
    load = await cl.client.call('load.stop', {}).catch(() => undefined);
    const vip: Record<string, Period[]> = {};
    const prim: Record<string, Period[]> = {};
    for (const l of LAB_LBS) vip[l] = await cl.probe(l).watchStop('vip').catch(() => []);
    for (const m of LAB_DBS) prim[m] = await cl.probe(m).watchStop('primary').catch(() => []);
    for (const o of overlaps(vip)) f.violations.push(`two lbs carried the VIP at once: ${o}`);
    for (const o of overlaps(prim)) f.violations.push(`two members answered /primary 200 at once: ${o}`);
  }
  const figures: DrillFigures = {
    readGapMs: load?.reads.gapMs ?? 0, writeGapMs: load ? longestWriteGap(load.acks) : 0,
    failedReads: load?.reads.failed ?? 0, retriedReads: Object.values(load?.reads.retried ?? {}).reduce((a, b) => a + b, 0),
    failedWrites: load?.failures.filter((x) => x.at >= f.faultAt).length ?? 0, acked: load?.acks.length ?? 0, lost: 0, unverified: 0, ...f.figures,
  };
  if (load && f.newPrimary) {
    const first = Math.min(...load.acks.filter((a) => a.db === f.newPrimary && a.ackAt >= f.faultAt).map((a) => a.ackAt));
    if (Number.isFinite(first)) figures.recoverMs = first - f.faultAt;
  }
  if (load && load.acks.length > 0) {
    // Sync replication: no acknowledged write may be lost, whatever the drill (DESIGN.md §5.1).
    const v = await cl.client.call('verify', { base: cl.base, acks: load.acks });
    figures.lost = v.lost.length;
    figures.unverified = v.unverified;
    if (v.lost.length) f.violations.push(`${v.lost.length} acknowledged write(s) lost: ${v.lost.slice(0, 5).map((a) => `#${a.id} (${a.db})`).join(', ')}`);
    if (v.unverified) f.violations.push(`${v.unverified} acknowledged write(s) could not be read back`);
  } else if (!load) f.violations.push('the client load gave no result');
  if (expect.noFailedReads && figures.failedReads) f.violations.push(`${figures.failedReads} read(s) failed despite retries`);
  if (expect.noRetriedReads && figures.retriedReads) f.violations.push(`idempotent reads were not spared: ${figures.retriedReads} attempt(s) failed and were retried`);
  if (expect.noFailedWrites && figures.failedWrites) f.violations.push(`${figures.failedWrites} write(s) failed`);
  if (load) {
    const why = (m: Record<string, number>): string => Object.entries(m).map(([k, n]) => `${k} ×${n}`).join(', ');
    if (figures.retriedReads) f.notes.push(`reads retried: ${why(load.reads.retried)}`);
    if (figures.readGapMs >= 1000) f.notes.push(`the longest read gap, as the readers saw it: ${load.reads.gapEvents.join(', ')}`);
    const warm = load.failures.filter((x) => x.at < f.faultAt);
    const after = load.failures.filter((x) => x.at >= f.faultAt);
    if (after.length) f.notes.push(`writes failed: ${why(countReasons(after))}`);
    if (warm.length) f.notes.push(`writes failed before the fault (not counted): ${why(countReasons(warm))}`);
  }
  log(`${name}: read gap ${figures.readGapMs} ms, write gap ${figures.writeGapMs} ms, failed reads ${figures.failedReads} (retried ${figures.retriedReads}), failed writes ${figures.failedWrites}, acked ${figures.acked}, lost ${figures.lost}, recovered ${figures.recoverMs ?? '–'} ms, steady again ${figures.backMs ?? '–'} ms${f.violations.length ? `; VIOLATIONS: ${f.violations.join(' | ')}` : ''}${f.notes.length ? `; notes: ${f.notes.join(' | ')}` : ''}`);
  return { drill: name, figures, violations: f.violations, notes: f.notes };
}

/** Repair, then time the whole cluster back to steady. */
async function repairAndSettle(cl: ClusterLab, f: Frame, repair: () => void | Promise<void>): Promise<Steady | undefined> {
  f.repairAt = Date.now();
  await repair();
  try {
    const st = await cl.steady(BOUNDS.steadyMs);
    f.figures.backMs = Date.now() - f.repairAt;
    return st;
  } catch (err) {
    f.violations.push(`not steady after the repair: ${(err as Error).message}`);
    return undefined;
  }
}

function otherLb(l: LabLb): LabLb {
  return l === 'lb-1' ? 'lb-2' : 'lb-1';
}

/** The VIP moves to the other lb within the takeover bound; the retrying readers never give up. */
async function vipMoves(cl: ClusterLab, f: Frame): Promise<void> {
  const to = otherLb(f.st.active);
  const ms = await sinceFault(f, () => cl.vipHolders().join() === to, BOUNDS.takeoverMs + 10_000);
  if (ms === undefined) f.violations.push(`the VIP never reached ${to}`);
  else {
    f.figures.recoverMs = ms;
    if (ms > BOUNDS.takeoverMs) f.violations.push(`takeover took ${ms} ms (bound ${BOUNDS.takeoverMs} ms)`);
  }
}

/** Writes acknowledged by `to` after the fault, within the failover bound (timed exactly from the acks later). */
async function newPrimaryWrites(cl: ClusterLab, f: Frame, to: LabDb): Promise<void> {
  f.newPrimary = to;
  const ms = await sinceFault(f, async () => (await progress(cl)).lastDb === to, BOUNDS.failoverMs + 20_000, 50);
  if (ms === undefined) f.violations.push(`no write was acknowledged by ${to} after the fault`);
  else {
    f.figures.recoverMs = ms;
    if (ms > BOUNDS.failoverMs) f.violations.push(`failover took ${ms} ms (bound ${BOUNDS.failoverMs} ms)`);
  }
}

/** For BOUNDS.observeMs: `p` stays the primary, the other member never becomes one. */
async function noFailover(cl: ClusterLab, f: Frame): Promise<void> {
  const end = Date.now() + BOUNDS.observeMs;
  while (Date.now() < end) {
    const [a, b] = await Promise.all([cl.db(f.st.primary), cl.db(f.st.replica)]);
    if (a?.role !== 'primary') f.violations.push(`${f.st.primary} is no longer the primary (${a?.role ?? 'no answer'}: ${a?.decision ?? ''})`);
    if (b?.role === 'primary') f.violations.push(`${f.st.replica} became a primary`);
    if (a?.role !== 'primary' || b?.role === 'primary') return;
    await sleep(250);
  }
}

export const DRILLS: readonly Drill[] = [
  {
    name: 'kill-active-lb',
    title: 'kill -9 of the active lb\'s agent',
    recovered: 'the VIP on the other lb',
    run: (cl, log) => frame(cl, 'kill-active-lb', log, { noFailedReads: true }, async (f) => {
      const victim = f.st.active;
      f.faultAt = Date.now();
      await cl.killAgent(victim);
      await vipMoves(cl, f);
      await repairAndSettle(cl, f, () => cl.startAgent(victim));
    }),
  },
  {
    name: 'kill-web',
    title: 'kill -9 of a web server (agent and app)',
    recovered: 'the server marked down on the active lb',
    run: (cl, log) => frame(cl, 'kill-web', log, { noFailedReads: true, noRetriedReads: true }, async (f) => {
      const victim = 'web-1';
      f.faultAt = Date.now();
      // The app is not tied to its agent's life: a dead web server is the agent and its app.
      await cl.killAgent(victim, { group: true });
      const ms = await sinceFault(f, async () => (await cl.lb(f.st.active))?.backends?.[0]?.servers.find((s) => s.name === victim)?.up === false, 30_000, 50);
      if (ms === undefined) f.violations.push(`${victim} was never marked down`);
      else {
        f.figures.recoverMs = ms;
        if (ms > BOUNDS.ejectMs) f.violations.push(`${victim} marked down after ${ms} ms (bound ${BOUNDS.ejectMs} ms)`);
      }
      await repairAndSettle(cl, f, () => cl.startAgent(victim));
    }),
  },
  {
    name: 'kill-primary',
    title: 'kill -9 of the primary\'s agent',
    recovered: 'the first write acknowledged by the new primary',
    run: (cl, log) => frame(cl, 'kill-primary', log, {}, async (f) => {
      const { primary, replica } = f.st;
      f.faultAt = Date.now();
      // Only the agent: PostgreSQL must not outlive it (it would go on taking writes).
      await cl.killAgent(primary);
      await newPrimaryWrites(cl, f, replica);
      const st = await repairAndSettle(cl, f, () => cl.startAgent(primary));
      if (st && st.replica !== primary) f.notes.push(`after the restart ${st.primary} is primary`);
    }),
  },
  {
    name: 'kill-replica',
    title: 'kill -9 of the replica\'s agent',
    recovered: 'the primary commits without its sync standby',
    run: (cl, log) => frame(cl, 'kill-replica', log, { noFailedReads: true }, async (f) => {
      const { primary, replica } = f.st;
      f.faultAt = Date.now();
      await cl.killAgent(replica);
      // Sync mode: the primary drops the dead standby from its sync set and goes on committing
      // (acknowledged writes keep the durability of one member until the replica is back).
      const before = (await progress(cl)).acks;
      const ms = await sinceFault(f, async () => (await progress(cl)).acks >= before + 10 && (await cl.db(primary))?.sync?.members.includes(replica) === false, BOUNDS.failoverMs, 50);
      if (ms === undefined) f.violations.push(`${primary} did not go on committing without ${replica}`);
      else f.figures.recoverMs = ms;
      const st = await repairAndSettle(cl, f, () => cl.startAgent(replica));
      if (st && st.primary !== primary) f.violations.push(`the primary moved to ${st.primary} when only the replica died`);
    }),
  },
  {
    name: 'kill-monitor',
    title: 'kill -9 of the monitor\'s agent',
    recovered: '– (nothing the clients see may change)',
    run: (cl, log) => frame(cl, 'kill-monitor', log, { noFailedReads: true, noRetriedReads: true, noFailedWrites: true }, async (f) => {
      f.faultAt = Date.now();
      await cl.killAgent('mon-1');
      await noFailover(cl, f);
      if (cl.vipHolders().join() !== f.st.active) f.violations.push(`the VIP moved (${cl.vipHolders().join(', ') || 'nobody'}) when the monitor died`);
      await repairAndSettle(cl, f, () => cl.startAgent('mon-1'));
    }),
  },
  {
    name: 'cut-primary-host',
    title: 'the primary\'s host cut off the network',
    recovered: 'the first write acknowledged by the new primary',
    run: (cl, log) => frame(cl, 'cut-primary-host', log, {}, async (f) => {
      const { primary, replica } = f.st;
      f.faultAt = Date.now();
      cl.cut(primary, true);
      try {
        // Asked on its own host: the cut-off primary must fence itself (it stops answering
        // /primary; the watches prove it did so before the other member answered).
        const [fenced] = await Promise.all([
          sinceFault(f, async () => {
            const s = await cl.db(primary);
            return s !== undefined && s.fenced !== null;
          }, 20_000, 100),
          newPrimaryWrites(cl, f, replica),
        ]);
        if (fenced === undefined) f.violations.push(`${primary} never reported itself fenced while cut off`);
        else f.notes.push(`${primary} reported itself fenced ${fenced} ms after the cut`);
      } finally {
        const st = await repairAndSettle(cl, f, () => cl.cut(primary, false));
        if (st && st.replica !== primary) f.violations.push(`${primary} did not rejoin as the replica (${st.primary} is primary)`);
      }
    }),
  },
  {
    name: 'cut-active-lb-host',
    title: 'the active lb\'s host cut off the network',
    recovered: 'the VIP on the other lb, gone from the cut-off one',
    run: (cl, log) => frame(cl, 'cut-active-lb-host', log, { noFailedReads: true }, async (f) => {
      const victim = f.st.active;
      f.faultAt = Date.now();
      cl.cut(victim, true);
      try {
        await vipMoves(cl, f);
        // The cut-off lb cannot renew its lease: it must drop the VIP by itself.
        const dropped = await sinceFault(f, () => !cl.lab.addresses(victim).includes(LAB_VIP), BOUNDS.takeoverMs, 50);
        if (dropped === undefined) f.violations.push(`${victim} kept the VIP while cut off`);
      } finally {
        await repairAndSettle(cl, f, () => cl.cut(victim, false));
      }
    }),
  },
  {
    name: 'etcd-member-loss',
    title: 'kill -9 of the etcd leader (one of three members)',
    recovered: 'the two other members elect a leader',
    run: (cl, log) => frame(cl, 'etcd-member-loss', log, { noFailedReads: true, noRetriedReads: true, noFailedWrites: true }, async (f) => {
      const { leader } = await cl.etcdStatus();
      if (!leader) throw new Error('no etcd leader before the drill');
      f.notes.push(`killed ${leader}`);
      f.faultAt = Date.now();
      await cl.killEtcd(leader);
      const rest = LAB_ETCD.filter((e) => e !== leader);
      try {
        await cl.etcdHealthy(15_000, rest);
        f.figures.recoverMs = Date.now() - f.faultAt;
        await noFailover(cl, f);
      } finally {
        await repairAndSettle(cl, f, async () => {
          cl.startEtcd(leader);
          await cl.etcdHealthy(30_000);
        });
      }
    }),
  },
  {
    name: 'etcd-outage',
    title: 'every etcd member killed (failsafe)',
    recovered: '– (nothing may change)',
    run: (cl, log) => frame(cl, 'etcd-outage', log, { noFailedReads: true, noRetriedReads: true, noFailedWrites: true }, async (f) => {
      f.faultAt = Date.now();
      const members = LAB_ETCD;
      await Promise.all(members.map((e) => cl.killEtcd(e)));
      try {
        const before = (await progress(cl)).acks;
        await noFailover(cl, f);
        const during = (await progress(cl)).acks - before;
        f.notes.push(`${during} writes acknowledged during ${BOUNDS.observeMs / 1000} s without etcd`);
        if (during < 20) f.violations.push(`writes stopped without etcd (${during} acknowledged in ${BOUNDS.observeMs} ms)`);
      } finally {
        await repairAndSettle(cl, f, async () => {
          for (const e of members) cl.startEtcd(e);
          await cl.etcdHealthy(30_000);
        });
      }
    }),
  },
];
