/**
 * The db role: one PostgreSQL member driven by the HA loop. Its agent API answers the questions a
 * load balancer asks (GET /primary, GET /replica) so our router — or HAProxy — can route by them.
 */
import type { ClusterSpec } from '../../config/types.js';
import { ApiError, MEMBERS, type AgentApi } from '../../control-plane/agent-api/index.js';
import {
  HaLoop, HttpPeers, PgMember, dcsFromSpec, failoverDocOf, memberAddresses, memberChanges, memberOf, syncDocOf, replicaReadLag, nextLastStreamed, type LastStreamed, type LeaderSeen, type HaConfig,
} from '../../control-plane/pg-ha/index.js';
import type { Dcs } from '../../control-plane/pg-ha/dcs/types.js';
import { PartitionableDcs } from '../../control-plane/pg-ha/dcs/partitionable.js';
import { sleep } from '../../core/clock.js';
import { registerPgMetrics } from '../../observability/pg-metrics.js';

const FAULTS = process.env['BULWARK_FAULT_INJECTION'] === '1';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';
import type { TlsCredentials } from '../../control-plane/certs/index.js';

export function haConfigOf(spec: ClusterSpec): HaConfig {
  const db = spec.database!;
  return {
    ttlMs: db.ttlMs, loopMs: db.loopMs, maximumLagOnFailoverBytes: db.maximumLagOnFailoverBytes, mode: db.mode,
    strict: db.strict, failsafe: db.failsafe,
    // One loop of delay plus the stop itself, and never less than a quarter of the TTL.
    fenceMarginMs: Math.max(db.loopMs + 250, Math.floor(db.ttlMs / 4)),
  };
}

export class DbRole implements RoleRuntime {
  readonly role = 'db' as const;
  private readonly dcs: Dcs;
  private readonly member: PgMember;
  private readonly loop: HaLoop;
  private readonly peers: HttpPeers;
  private startError: string | undefined;
  /**
   * The cluster file as last reloaded: its members and clients are in force. Settings read at
   * start (`database.*` but router, this node's own entry) stay as in ctx.spec until a restart.
   */
  private spec: ClusterSpec;

  constructor(private readonly ctx: RoleContext) {
    const { spec, node, clock, log } = ctx;
    this.spec = spec;
    const dcs = dcsFromSpec(spec, clock, ctx.agents);
    this.dcs = FAULTS ? new PartitionableDcs(dcs, clock) : dcs;
    this.member = new PgMember({ spec, node, dir: ctx.dir, dcs: this.dcs, credentials: ctx.credentials, clock, log });
    this.peers = new HttpPeers(ctx.agents, Math.min(1000, spec.database!.loopMs));
    this.loop = new HaLoop({
      name: node.name, nofailover: node.nofailover, config: haConfigOf(spec), dcs: this.dcs, pg: this.member,
      peers: this.peers, clock, log, members: memberAddresses(spec), onCycle: () => {
        this.lastStreamed = nextLastStreamed(this.loop.current.pg, this.leaderSeen(), this.lastStreamed);
        this.wakePrimaryWaiters();
        this.tidySlots();
      },
    });
    this.registerMetrics();
  }

  async start(): Promise<void> {
    try {
      await this.member.prepare();
    } catch (err) {
      this.startError = (err as Error).message;
      throw err;
    }
    this.ctx.log.info(`HA loop starting: ${this.dcs.description}, ${this.ctx.spec.database!.mode} replication, ttl ${this.ctx.spec.database!.ttlMs}ms`);
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    const wasLeader = this.loop.current.lockRenewedAt !== undefined;
    // Stop writes first, then hand the lock over: a replica takes over at once, not after the TTL.
    await this.member.shutdown().catch((err) => this.ctx.log.warn({ err: (err as Error).message }, 'PostgreSQL did not stop cleanly'));
    if (wasLeader && (await this.loop.releaseIfLeader())) this.ctx.log.info('released the leader lock');
    await this.dcs.close().catch(() => {});
  }

  /** Holds the lock (renewed within the TTL), or is confirmed by every member in failsafe mode. */
  private isLeader(): boolean {
    const st = this.loop.current;
    const now = this.ctx.clock.now();
    const ttl = this.ctx.spec.database!.ttlMs;
    if (st.fencedAt !== undefined && (st.lockRenewedAt === undefined || st.fencedAt > st.lockRenewedAt)) return false;
    if (st.lockRenewedAt !== undefined && now < st.lockRenewedAt + ttl) return true;
    return st.failsafeConfirmedAt !== undefined && now - st.failsafeConfirmedAt < ttl;
  }

  /** Held `GET /primary?wait=` requests: each re-checks after every HA cycle. */
  private readonly primaryWaiters = new Set<() => void>();
  /** wasPrimaryLastCycle() after the last cycle, and since when. */
  private primaryState = { is: false, since: -Infinity };

  private wakePrimaryWaiters(): void {
    const is = this.wasPrimaryLastCycle();
    if (is !== this.primaryState.is) this.primaryState = { is, since: this.ctx.clock.now() };
    for (const w of [...this.primaryWaiters]) w();
  }

  /** The lock holder running a writable primary, as the last HA cycle saw it (no I/O). */
  private wasPrimaryLastCycle(): boolean {
    const pg = this.loop.current.pg;
    return this.isLeader() && pg?.state === 'running' && pg.role === 'primary';
  }

  /** The lock holder this replica last streamed from (reads go on while the lock has none). */
  private lastStreamed: LastStreamed | undefined;

  /** The lock holder as the last HA cycle saw it, and the WAL position it published. */
  private leaderSeen(): LeaderSeen {
    const view = this.loop.current.view;
    const leader = view?.leader?.holder;
    return { leader, leaderPos: leader && view ? memberOf(view, leader)?.walPosition : undefined };
  }

  /** Resolves once wasPrimaryLastCycle() differs from `was` (checked after each HA cycle) or after `ms`. */
  private untilPrimaryIsNot(was: boolean, ms: number): Promise<void> {
    const { clock } = this.ctx;
    return new Promise((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        this.primaryWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (this.wasPrimaryLastCycle() !== was) done();
      };
      const timer = clock.setTimeout(done, ms);
      this.primaryWaiters.add(check);
    });
  }

  health(): RoleHealth {
    if (this.startError) return { healthy: false, detail: `cannot run PostgreSQL: ${this.startError}` };
    const st = this.loop.current;
    const pg = st.pg;
    const summary = st.decision?.summary ?? 'HA loop starting';
    if (this.member.cloneProgress) {
      const p = this.member.cloneProgress;
      return { healthy: true, detail: `cloning: ${p.total ? Math.floor((p.done / p.total) * 100) : 0}%` };
    }
    if (!pg || pg.state !== 'running') return { healthy: false, detail: `PostgreSQL ${pg?.state ?? 'unknown'}: ${summary}` };
    return { healthy: true, detail: `${pg.role}${pg.role === 'primary' && this.isLeader() ? ' (leader)' : ''}, timeline ${pg.timeline}: ${summary}` };
  }

  credentialsChanged(next: TlsCredentials): Promise<void> {
    return this.member.refreshTls(next);
  }

  status(): Record<string, unknown> {
    const st = this.loop.current;
    const view = st.view;
    const pg = st.pg;
    const { leader, leaderPos } = this.leaderSeen();
    return {
      role: pg?.state === 'running' ? pg.role : pg?.state,
      leader: leader ?? null,
      holdsLock: this.isLeader(),
      timeline: pg?.timeline ?? null,
      walPosition: pg?.walPosition ?? null,
      lagBytes: pg?.role === 'replica' && leaderPos !== undefined && pg.walPosition !== undefined ? Math.max(0, leaderPos - pg.walPosition) : null,
      streamingFrom: pg?.streamingFrom ?? null,
      standbys: pg?.standbys ?? [],
      syncNames: pg?.syncNames ?? [],
      sync: view ? syncDocOf(view) ?? null : null,
      mode: this.ctx.spec.database!.mode,
      dcs: { description: this.dcs.description, ok: st.dcsError === undefined, error: st.dcsError ?? null },
      decision: st.decision?.summary ?? null,
      fenced: st.fencedAt ? { at: new Date(st.fencedAt).toISOString(), reason: st.fenceReason } : null,
      // Only while primary: the tenure it describes ends with the role.
      promotion: pg?.role === 'primary' && st.promotion
        ? { at: new Date(st.promotion.at).toISOString(), planned: st.promotion.planned, from: st.promotion.from ?? null } : null,
      clone: this.member.cloneProgress ?? null,
    };
  }

  /**
   * Members added or removed (or the web nodes pg_hba admits changed) apply now, without
   * restarting PostgreSQL: pg_hba is rewritten and reloaded (the only step that can fail, and it
   * leaves the rules in force when it does), then the HA loop takes the new member list. On the
   * primary, a removed standby leaves the sync set before this returns, so the node is stopped
   * (by `bulwark reload` on a local cluster, or by hand) only once another standby carries the
   * acknowledged commits; its slot is dropped once it no longer streams.
   */
  async reload(next: ClusterSpec): Promise<string> {
    const ch = memberChanges(this.spec, next, this.ctx.node.name);
    const { leader } = this.leaderSeen();
    if (leader !== undefined && ch.removed.includes(leader)) {
      throw new Error(`${leader} is the primary: switch over first (bulwark switchover), then remove it from the file`);
    }
    const parts: string[] = [];
    if (ch.added.length + ch.removed.length + ch.moved.length > 0 || ch.clientsChanged) {
      await this.member.applyMembers(next);
      this.loop.setMembers(memberAddresses(next));
      this.spec = next;
      const said = [
        ch.added.length ? `added ${ch.added.join(', ')}` : '', ch.removed.length ? `removed ${ch.removed.join(', ')}` : '',
        ch.moved.length ? `${ch.moved.join(', ')} moved` : '',
      ].filter(Boolean);
      parts.push(`database members${said.length ? ` ${said.join(', ')}` : ' unchanged'}: pg_hba reloaded, HA loop has ${memberAddresses(next).length} member(s)`);
      if (ch.removed.length > 0 && leader === this.ctx.node.name) parts.push(await this.syncWithout(ch.removed));
    } else {
      this.spec = next;
      parts.push('database members unchanged');
    }
    if (ch.restartOnly.length > 0) parts.push(`${ch.restartOnly.join(', ')} apply at the next restart of this node`);
    return parts.join('; ');
  }

  /**
   * The primary, after a reload removed standbys: wait (a few cycles at most) until the sync
   * planning has taken them out of synchronous_standby_names and then out of the DCS sync set
   * (decide() excludes members not in the file), so stopping them costs no durability.
   */
  private async syncWithout(removed: readonly string[]): Promise<string> {
    if (this.ctx.spec.database!.mode !== 'sync') return `${removed.join(', ')}: replication slot dropped once stopped`;
    const { clock } = this.ctx;
    const started = clock.now();
    const limit = 4 * this.ctx.spec.database!.loopMs + 2000;
    const inSync = (): string[] => {
      const st = this.loop.current;
      const names = new Set([...(st.pg?.syncNames ?? []), ...(st.view ? syncDocOf(st.view)?.members ?? [] : [])]);
      return removed.filter((n) => names.has(n));
    };
    while (inSync().length > 0 && clock.now() - started < limit) await sleep(clock, 100);
    const left = inSync();
    const now = this.loop.current.view ? syncDocOf(this.loop.current.view)?.members ?? [] : [];
    if (left.length > 0) {
      return `${left.join(', ')} still in the sync set after ${Math.round(limit / 1000)}s: stopping it counts as a sync standby dying (writes go async if it is the last)`;
    }
    return `${removed.join(', ')} out of the sync set (now: ${now.join(', ') || 'none, async'}); replication slot dropped once stopped`;
  }

  /** Drop the slots of removed members, once per cycle at most, in the background. */
  private tidySlots(): void {
    if (this.tidying) return;
    this.tidying = this.member.tidySlots()
      .catch((err: Error) => this.ctx.log.warn({ err: err.message }, `could not drop the slot of a removed member: ${err.message}`))
      .finally(() => {
        this.tidying = undefined;
      });
  }
  private tidying: Promise<unknown> | undefined;

  routes(api: AgentApi): void {
    // 200 only on the lock-holding primary that really accepts writes. `?wait=MS` (the db
    // router's check) holds the answer until this member becomes or stops being the primary (as
    // an HA cycle sees it) or MS pass, so a new primary gets its writes as soon as it is promoted,
    // not at the router's next check.
    api.route('GET', '/primary', async (req) => {
      const wait = req.query.get('wait');
      const waitMs = wait === null ? 0 : Number(wait);
      if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > 10_000) throw new ApiError(400, `wait must be 0 to 10000 (ms), got ${JSON.stringify(wait)}`);
      // A caller may not have seen a change yet while it is younger than its wait and its pause
      // between checks (at most one more wait): answer those at once.
      const recent = this.ctx.clock.now() - this.primaryState.since < 2 * waitMs;
      if (waitMs > 0 && !recent) await this.untilPrimaryIsNot(this.wasPrimaryLastCycle(), waitMs);
      // Only the lock holder is asked live; anyone else is not the primary whatever PostgreSQL says.
      const leader = this.isLeader();
      const pg = leader ? await this.member.observe().catch(() => undefined) : this.loop.current.pg;
      const ok = leader && pg?.state === 'running' && pg.role === 'primary';
      return { status: ok ? 200 : 503, body: { primary: ok, role: pg?.role ?? pg?.state ?? 'unknown', holdsLock: leader } };
    }, MEMBERS);
    // 200 only on a replica within the lag limit (?lag=BYTES) that may serve reads (replica-reads.ts).
    api.route('GET', '/replica', async (req) => {
      const lagParam = req.query.get('lag');
      const maxLag = lagParam === null ? this.spec.database!.router.maxLagBytes : Number(lagParam);
      if (!Number.isFinite(maxLag) || maxLag < 0) throw new ApiError(400, `lag must be a number of bytes, got ${JSON.stringify(lagParam)}`);
      const pg = await this.member.observe().catch(() => undefined);
      const lag = replicaReadLag(pg, this.leaderSeen(), this.lastStreamed);
      const ok = lag !== undefined && lag.bytes <= maxLag;
      return {
        status: ok ? 200 : 503,
        body: { replica: ok, streamingFrom: pg?.streamingFrom ?? null, lagBytes: lag?.bytes ?? null, maxLagBytes: maxLag, ...(lag?.leaderLost && { leaderLost: true as const }) },
      };
    }, MEMBERS);
    api.route('GET', '/ha/state', async () => {
      const pg = await this.member.observe();
      const role = pg.state === 'running' ? pg.role : pg.state;
      return { status: 200, body: { role, walPosition: pg.walPosition ?? null, timeline: pg.timeline ?? null } };
    }, ['db']);
    api.route('POST', '/ha/failsafe', (req) => {
      const from = (req.body as { from?: unknown } | undefined)?.from;
      if (typeof from !== 'string' || from === '') throw new ApiError(400, 'body must be {"from": "<member>"}');
      this.loop.noteFailsafeHeartbeat(from);
      return { status: 200, body: { ack: true } };
    }, ['db']);
    if (this.dcs instanceof PartitionableDcs) {
      const dcs = this.dcs;
      // {"on": true}: cut off from the DCS only; {"on": true, "peers": true}: the whole host is
      // cut off (DCS and the other members), so failsafe cannot keep it primary.
      api.route('POST', '/debug/dcs-partition', (req) => {
        const body = req.body as { on?: unknown; peers?: unknown } | undefined;
        if (typeof body?.on !== 'boolean' || (body.peers !== undefined && typeof body.peers !== 'boolean')) {
          throw new ApiError(400, 'body must be {"on": true|false, "peers"?: true|false}');
        }
        dcs.cut = body.on;
        this.peers.blocked = body.on && body.peers === true;
        this.ctx.log.warn(`fault injection: ${body.on ? `cut off from the DCS${this.peers.blocked ? ' and from the other members' : ''}` : 'reconnected'}`);
        return { status: 200, body: { partitioned: body.on, peers: this.peers.blocked } };
      });
    }
    api.route('POST', '/switchover', async (req) => {
      const to = (req.body as { to?: unknown } | undefined)?.to;
      if (to !== undefined && typeof to !== 'string') throw new ApiError(400, '"to" must be a member name');
      if (to !== undefined && !this.spec.nodes.some((n) => n.role === 'db' && n.name === to)) throw new ApiError(404, `no db member named ${to}`);
      const view = await this.dcs.read();
      const leader = view.leader?.holder;
      if (!leader) throw new ApiError(409, 'there is no primary to switch over from');
      if (to === leader) throw new ApiError(409, `${to} is already the primary`);
      if (failoverDocOf(view)) throw new ApiError(409, 'a switchover is already in progress');
      await this.dcs.setDoc('failover', { from: leader, ...(to ? { to } : {}), requestedAt: this.ctx.clock.now() }, null);
      // Wait for the hand-over (bounded), so the CLI can say how it went.
      const clock = this.ctx.clock;
      const started = clock.now();
      for (;;) {
        const now = await this.dcs.read().catch(() => undefined);
        const holder = now?.leader?.holder;
        if (holder && holder !== leader) return { status: 200, body: { from: leader, to: holder, ms: clock.now() - started } };
        if (now && !failoverDocOf(now) && holder === leader) throw new ApiError(409, `switchover refused by ${leader}; see its log`);
        if (clock.now() - started > 15_000) throw new ApiError(504, 'switchover did not complete within 15s');
        await sleep(clock, 50);
      }
    });
  }

  private registerMetrics(): void {
    const loop = this.loop;
    const running = (): typeof loop.current.pg => (loop.current.pg?.state === 'running' ? loop.current.pg : undefined);
    const replica = (): boolean => running()?.role === 'replica';
    registerPgMetrics(this.ctx.registry, {
      role: () => running()?.role ?? loop.current.pg?.state ?? 'starting',
      isLeader: () => this.isLeader(),
      timeline: () => running()?.timeline,
      streaming: () => {
        if (!replica()) return undefined;
        const { leader } = this.leaderSeen();
        return leader !== undefined && running()?.streamingFrom === leader;
      },
      syncStandby: () => {
        const view = loop.current.view;
        return replica() && view ? (syncDocOf(view)?.members ?? []).includes(this.ctx.node.name) : undefined;
      },
      leaderLsn: () => this.leaderSeen().leaderPos,
      query: <R>(sql: string) => this.member.pg.withClient(async (c) => (await c.query(sql)).rows as R[], { statementTimeoutMs: 2000 }),
      now: () => this.ctx.clock.now(),
    });
  }
}
