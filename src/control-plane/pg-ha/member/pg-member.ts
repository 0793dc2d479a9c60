/**
 * PgPort on real PostgreSQL: the HA loop's hands on this member's server. Every operation is
 * built from the postgres/ toolbox; this file only decides the order and where the cluster's
 * facts (secrets, member addresses, slots) come from.
 *
 * Secrets: the member that initialises the cluster generates the passwords and publishes them in
 * the DCS `config` doc; every other member takes them from there (nodes share nothing through
 * files). The agent API and the DCS are cluster-internal.
 *
 * TLS: the server and every connection between members use this node's certificate from the
 * cluster CA (postgres/tls.ts); pg_hba admits TCP over TLS only.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterSpec, NodeSpec } from '../../../config/types.js';
import type { Clock } from '../../../core/clock.js';
import type { Logger } from '../../../core/log.js';
import { isLoopbackAddress } from '../../../core/ip-address.js';
import type { PgObservation, TimelineSwitch } from '../core/types.js';
import { moveAside, removeMovedAside, tailFile, writeOwnedFile } from '../postgres/files.js';
import type { Dcs } from '../dcs/types.js';
import { readConfigDoc, type ConfigDoc } from './config-doc.js';
import { sleep } from '../../../core/clock.js';
import type { MemberAddress, PgPort } from '../loop/ports.js';
import {
  DEFAULT_ROLES, PostgresInstance, assertTraversable, bootstrapPrimary, cloneFromPrimary, configureReplica, configuredUpstream, ensureBinariesReachable,
  dropSlot, ensurePhysicalSlot, ensureSecrets, listSlots, ensureServiceUser, findWalEnd, followRefusal, isCloneIncomplete, locatePostgres, memberPaths, parseSyncStandbyNames,
  prepareMemberDirs, readSecrets, readStatus, readTimelineHistory, removeNewerHistoryFiles, repoint, rewind, secretFile, setSynchronousStandbys, slotNameFor, standardHba,
  writeMemberPassfile, writeSecrets, type ClusterSecrets, type MemberPaths, type PgStatus, type TlsPem, type UpstreamPrimary,
} from '../postgres/index.js';

export interface PgMemberOptions {
  readonly spec: ClusterSpec;
  readonly node: NodeSpec;
  /** This node's folder; PostgreSQL lives under `<dir>/pg`. */
  readonly dir: string;
  readonly dcs: Dcs;
  /**
   * This node's certificate (from the cluster CA, its address as a SAN) and the CA: the server's
   * TLS identity and the client certificate it replicates with.
   */
  readonly credentials: TlsPem;
  readonly clock: Clock;
  readonly log: Logger;
}



/** Replication and rewind from the db nodes only; the app role from web and db nodes. */
function hbaOf(spec: ClusterSpec): ReturnType<typeof standardHba> {
  const db = spec.database!;
  const dbNodes = spec.nodes.filter((n) => n.role === 'db').map((n) => n.address);
  const webNodes = spec.nodes.filter((n) => n.role === 'web').map((n) => n.address);
  // On one machine every connection to a 127.x address comes from 127.0.0.1.
  const local = [...dbNodes, ...webNodes].some(isLoopbackAddress) ? ['127.0.0.1'] : [];
  return standardHba({
    superuser: 'postgres', replicationUser: DEFAULT_ROLES.replication, rewindUser: DEFAULT_ROLES.rewind,
    members: [...new Set([...dbNodes, ...local])],
    app: { user: db.user, database: db.name, clients: [...new Set([...webNodes, ...dbNodes, ...local])] },
  });
}

export class PgMember implements PgPort {
  private instance: PostgresInstance | undefined;
  /** The node's certificate as last renewed (see refreshTls). */
  private credentials: TlsPem;
  private readonly paths: MemberPaths;
  private lastStatus: PgStatus | undefined;
  /** The cluster file as last applied (a reload changes the members). */
  private spec: ClusterSpec;
  /** Members removed from the file whose slots here are still to be dropped (once they stop streaming). */
  private readonly retiredSlots = new Set<string>();
  /** Progress of a clone in flight (for status). */
  cloneProgress: { done: number; total: number } | undefined;

  constructor(private readonly o: PgMemberOptions) {
    this.paths = memberPaths(path.join(o.dir, 'pg'));
    this.spec = o.spec;
    this.credentials = o.credentials;
  }

  /** A renewed node certificate: PostgreSQL serves it, and replication presents it, from now on. */
  async refreshTls(pem: TlsPem): Promise<void> {
    this.credentials = pem;
    await this.instance?.refreshTls(pem);
  }

  get status(): PgStatus | undefined {
    return this.lastStatus;
  }

  get pg(): PostgresInstance {
    if (!this.instance) throw new Error('PostgreSQL member not prepared');
    return this.instance;
  }

  /** Find the binaries, the service user and the folders; build the instance. */
  async prepare(): Promise<void> {
    const db = this.spec.database!;
    const user = await ensureServiceUser();
    const located = await locatePostgres(db.binDir ? { binDir: db.binDir } : {});
    const binaries = ensureBinariesReachable(located, user, { stageDir: path.join(this.o.spec.stateDir, 'pg-binaries') });
    // The data folder lives under the state folder: every parent must let the service user in.
    assertTraversable(path.dirname(this.paths.root), user, 'state folder');
    prepareMemberDirs(this.paths, user);
    this.removeDiscardedData();
    this.instance = new PostgresInstance({
      name: this.o.node.name, binaries, dataDir: this.paths.dataDir, socketDir: this.paths.socketDir, logFile: this.paths.logFile,
      listenAddress: this.o.node.address, port: db.port, user, clock: this.o.clock, logger: this.o.log,
      // A replica re-pointed at a new primary retries after this (PostgreSQL's 5 s default is a
      // visible stall in a failover).
      settings: { wal_retrieve_retry_interval: '1s', ...db.parameters },
      tls: { dir: this.paths.tlsDir, pem: this.credentials },
      hba: hbaOf(this.spec),
    });
    this.o.log.info({ bin: binaries.binDir, version: binaries.version.full }, `PostgreSQL ${binaries.version.full} from ${binaries.binDir}`);
  }

  /**
   * A reload changed the db or web nodes: pg_hba admits exactly the new set (rewritten and
   * reloaded without a restart; on failure the rules in force stay and this throws), and the
   * slots of removed members are dropped once they stop streaming (tidySlots). Only members this
   * node knew and then saw removed lose their slot: a slot this file does not explain (a member
   * added on a node that has not reloaded yet) is never touched.
   */
  async applyMembers(next: ClusterSpec): Promise<void> {
    await this.pg.replaceHba(hbaOf(next));
    const names = (s: ClusterSpec): string[] => s.nodes.filter((n) => n.role === 'db' && n.name !== this.o.node.name).map((n) => n.name);
    const kept = new Set(names(next));
    for (const n of names(this.spec)) if (!kept.has(n)) this.retiredSlots.add(slotNameFor(n));
    for (const n of kept) this.retiredSlots.delete(slotNameFor(n));
    const added = [...kept].filter((n) => !names(this.spec).includes(n));
    this.spec = next;
    // As after a promotion, the primary keeps a slot for every member (its clone reuses it).
    if (added.length > 0 && this.lastStatus?.role === 'primary' && this.instance?.isRunning) {
      await this.ensureSlotsForPeers().catch((err: Error) => this.o.log.warn({ err: err.message }, `could not create the slot of ${added.join(', ')} yet (its clone creates it): ${err.message}`));
    }
  }

  /** Drop the slots of removed members that no longer stream; true when none is left to drop. */
  async tidySlots(): Promise<boolean> {
    if (this.retiredSlots.size === 0 || !this.instance?.isRunning) return this.retiredSlots.size === 0;
    const present = new Map((await listSlots(this.pg)).map((s) => [s.name, s]));
    for (const name of [...this.retiredSlots]) {
      const slot = present.get(name);
      if (slot?.active) continue; // its member still streams: it is being stopped
      if (slot && !(await dropSlot(this.pg, name))) continue;
      this.retiredSlots.delete(name);
      if (slot) this.o.log.info({ slot: name }, `dropped the replication slot ${name}: its member left the cluster file`);
    }
    return this.retiredSlots.size === 0;
  }

  // ── Observation ────────────────────────────────────────────────────────────────────────────
  async observe(): Promise<PgObservation> {
    const pg = this.pg;
    if (!pg.isInitialized() || isCloneIncomplete(this.paths.dataDir)) return { state: 'absent' };
    if (!pg.isRunning) {
      if (pg.detect().state === 'orphan') {
        // A postmaster from an earlier agent: we cannot vouch for it, so it goes.
        this.o.log.warn('stopping a PostgreSQL left running by an earlier agent');
        await pg.stopOrphan('fast').catch(() => {});
      }
      this.notStreamingSince = undefined;
      return { state: 'stopped', walEnd: await this.stoppedWalEnd(), ...(this.startFailed ? { startFailed: this.startFailed } : {}) };
    }
    this.walEnd = undefined; // it moves while the server runs
    let st: PgStatus;
    try {
      st = await readStatus(pg);
    } catch {
      return { state: 'starting' };
    }
    this.lastStatus = st;
    const byAddress = (host: string | null, port: number | null): string | undefined =>
      this.spec.nodes.find((n) => n.role === 'db' && n.address === host && (port === null || port === this.spec.database!.port))?.name;
    if (st.role === 'primary') {
      const sync = parseSyncStandbyNames(st.synchronousStandbyNames);
      const history = this.historyOf(st.timeline ?? 1);
      return {
        state: 'running', role: 'primary', timeline: st.timeline ?? 1, walPosition: st.walLsn?.bytes ?? 0, ...(history ? { history } : {}),
        standbys: st.replicas.filter((r) => r.state === 'streaming').map((r) => ({
          name: r.applicationName, flushPosition: r.flushLsn?.bytes ?? 0, sync: r.syncState === 'sync' || r.syncState === 'quorum',
        })),
        syncNames: sync?.names ?? [],
      };
    }
    const streaming = st.receiver && st.receiver.status === 'streaming' ? byAddress(st.receiver.senderHost, st.receiver.senderPort) : undefined;
    const now = this.o.clock.now();
    if (streaming || this.notStreamingSince === undefined) this.notStreamingSince = streaming ? undefined : now;
    const conninfo = configuredUpstream(pg).conninfo ?? '';
    const upstream = byAddress(/(?:^|\s)host='?([^'\s]+)/.exec(conninfo)?.[1] ?? null, null);
    const position = st.receiveLsn?.bytes ?? st.replayLsn?.bytes ?? 0;
    const refused = streaming ? undefined : this.cannotFollow();
    return {
      state: 'running', role: 'replica', timeline: st.timeline ?? 1, walPosition: Math.max(position, st.replayLsn?.bytes ?? 0),
      ...(streaming ? { streamingFrom: streaming } : {}),
      ...(upstream ? { upstream } : {}),
      notStreamingMs: this.notStreamingSince === undefined ? 0 : now - this.notStreamingSince,
      ...(st.receiver?.receivedTli ? { receivedTimeline: st.receiver.receivedTli } : {}),
      ...(refused ? { cannotFollow: refused } : {}),
    };
  }

  /** Where the stopped data's WAL ends: read once per stop (nothing writes it meanwhile). */
  private stoppedWalEnd(): Promise<NonNullable<PgObservation['walEnd']>> {
    this.walEnd ??= findWalEnd(this.paths.dataDir).then(
      (w) => {
        this.o.log.info({ end: w.endLsn, timeline: w.timeline, records: w.records, stoppedBy: w.stoppedBy },
          `my WAL ends at ${w.endLsn} on timeline ${w.timeline}`);
        return { timeline: w.timeline, position: w.end };
      },
      (err: Error) => {
        this.o.log.warn({ err: err.message }, `cannot tell where my WAL ends: ${err.message}`);
        return { error: err.message };
      },
    );
    return this.walEnd;
  }
  private walEnd: Promise<NonNullable<PgObservation['walEnd']>> | undefined;

  /** A primary's ancestry (read once per timeline), published so stopped members can check their WAL. */
  private historyOf(timeline: number): readonly TimelineSwitch[] | undefined {
    if (this.history?.timeline !== timeline) {
      let switches: TimelineSwitch[] | undefined;
      try {
        switches = readTimelineHistory(this.paths.dataDir, timeline);
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, `cannot read the history of timeline ${timeline}: other members will re-clone to rejoin`);
      }
      this.history = { timeline, switches };
    }
    return this.history.switches;
  }
  private history: { timeline: number; switches: TimelineSwitch[] | undefined } | undefined;

  /** The server's own words when it refuses to follow its upstream (since the last start or re-point). */
  private cannotFollow(): string | undefined {
    return followRefusal(tailFile(this.paths.logFile, 200, this.logMark));
  }

  private markLog(): void {
    try {
      this.logMark = fs.statSync(this.paths.logFile).size;
    } catch {
      this.logMark = 0;
    }
  }
  private logMark = 0;

  // ── Becoming a primary ─────────────────────────────────────────────────────────────────────
  async initialize(): Promise<void> {
    const pg = this.pg;
    const db = this.spec.database!;
    if (!pg.isInitialized()) {
      const secrets = ensureSecrets(this.paths.secretsDir);
      this.o.log.info('initialising a new database cluster (initdb)');
      await pg.initdb({ superuserPasswordFile: secretFile(this.paths.secretsDir, 'superuser') });
      void secrets;
    }
    pg.writeConfig();
    pg.writeHba();
    await pg.start();
    const boot = await bootstrapPrimary(pg, { secretsDir: this.paths.secretsDir, passfile: this.paths.passfile, appDatabase: db.name, roles: { app: db.user } });
    if (boot.created.length > 0) this.o.log.info({ created: boot.created }, `bootstrap created ${boot.created.join(', ')}`);
    const doc: ConfigDoc = { secrets: { replication: boot.secrets.replication, rewind: boot.secrets.rewind, app: boot.secrets.app }, appDatabase: db.name, appUser: db.user };
    await this.o.dcs.setDoc('config', doc);
    await this.ensureSlotsForPeers();
  }

  async promote(): Promise<void> {
    // Slots first (physical slots can be created on a standby): the other members re-point the
    // moment we are primary and must not find their slot missing (that costs a 5 s retry).
    await this.ensureSlotsForPeers().catch(() => {});
    const r = await this.pg.promote();
    this.o.log.info({ timeline: r.timeline, durationMs: r.durationMs }, `promoted: writable on timeline ${r.timeline} after ${r.durationMs}ms`);
    await this.ensureSlotsForPeers().catch((err) => this.o.log.warn({ err: (err as Error).message }, 'could not create replication slots'));
  }

  /** A primary keeps a physical slot for every other member, so any of them can follow it. */
  private async ensureSlotsForPeers(): Promise<void> {
    for (const n of this.spec.nodes) {
      if (n.role !== 'db' || n.name === this.o.node.name) continue;
      await ensurePhysicalSlot(this.pg, slotNameFor(n.name));
    }
  }

  async demote(reason: string): Promise<void> {
    // Checkpoint while still taking writes, so the shutdown checkpoint (the part of the hand-over
    // during which nobody can write) has little left to flush (Patroni does the same).
    const t0 = this.o.clock.now();
    // Bounded: the cycle holding the lock must not outlive its renewal deadline.
    const checkpoint = this.pg.query('CHECKPOINT').catch((err) => this.o.log.warn({ err: (err as Error).message }, 'pre-switchover checkpoint failed'));
    await Promise.race([checkpoint, sleep(this.o.clock, 1000)]);
    this.o.log.info({ reason, checkpointMs: this.o.clock.now() - t0 }, `stopping PostgreSQL cleanly for a hand-over (${reason})`);
    await this.pg.stop('fast', { timeoutMs: 5000 });
  }

  async fence(reason: string): Promise<void> {
    this.o.log.warn({ reason }, `fencing PostgreSQL: immediate stop (${reason})`);
    await this.pg.stop('immediate', { timeoutMs: 2000 });
  }

  async start(as: 'primary' | 'replica', leader?: MemberAddress): Promise<void> {
    const pg = this.pg;
    pg.writeConfig();
    pg.writeHba();
    if (as === 'replica' && leader) configureReplica(pg, this.upstream(leader));
    else if (as === 'replica' && !pg.isStandbyConfigured()) {
      // No primary to follow yet (election pending): read-only, never a writable primary.
      writeOwnedFile(path.join(this.paths.dataDir, 'standby.signal'), '', pg.user, 0o600);
    }
    this.walEnd = undefined;
    this.markLog();
    try {
      await pg.start();
      this.startFailed = undefined;
    } catch (err) {
      this.startFailed = (err as Error).message;
      throw err;
    }
  }
  /** Why the last start of this data dir failed (a rejoin then re-clones). */
  private startFailed: string | undefined;

  // ── Becoming / staying a replica ───────────────────────────────────────────────────────────
  private upstream(leader: MemberAddress): UpstreamPrimary {
    return {
      host: leader.host, port: leader.pgPort, user: DEFAULT_ROLES.replication, passfile: this.paths.passfile,
      applicationName: this.o.node.name, slotName: slotNameFor(this.o.node.name), connectTimeoutSeconds: 2,
    };
  }

  /** The cluster's secrets, from the DCS (written by the member that initialised it). */
  private async secrets(): Promise<ClusterSecrets> {
    const doc = await readConfigDoc(this.o.dcs);
    if (!doc?.secrets?.replication) throw new Error('the cluster secrets are not in the DCS yet (the primary has not finished bootstrapping)');
    writeSecrets(this.paths.secretsDir, doc.secrets);
    const local = readSecrets(this.paths.secretsDir);
    return { superuser: local.superuser ?? '', replication: doc.secrets.replication, rewind: doc.secrets.rewind ?? '', app: doc.secrets.app ?? '' } as ClusterSecrets;
  }

  async clone(leader: MemberAddress): Promise<void> {
    const pg = this.pg;
    const secrets = await this.secrets();
    writeMemberPassfile(pg, this.paths.passfile, secrets);
    this.o.log.info(`cloning from ${leader.name} (${leader.host}:${leader.pgPort})`);
    // New data: nothing known about it yet.
    this.startFailed = undefined;
    this.walEnd = undefined;
    const r = await cloneFromPrimary(pg, {
      source: { host: leader.host, port: leader.pgPort, user: DEFAULT_ROLES.replication, password: secrets.replication },
      passfile: this.paths.passfile, slotName: slotNameFor(this.o.node.name), overwrite: true,
      // The clone logs its own progress every 10 %; status shows it live.
      onProgress: (done, total) => {
        this.cloneProgress = { done, total };
      },
    });
    this.cloneProgress = undefined;
    this.o.log.info({ bytes: r.bytes, durationMs: r.durationMs }, `clone finished: ${(r.bytes / 1048576).toFixed(1)} MiB in ${r.durationMs}ms`);
    await this.start('replica', leader);
  }

  async follow(leader: MemberAddress): Promise<void> {
    const secrets = await this.secrets();
    writeMemberPassfile(this.pg, this.paths.passfile, secrets);
    this.o.log.info(`following the new primary ${leader.name}`);
    this.markLog();
    await repoint(this.pg, this.upstream(leader), { waitStreamingMs: 0 }).catch((err) => {
      this.o.log.warn({ err: (err as Error).message }, `re-pointing to ${leader.name} did not reach streaming yet`);
    });
  }

  /**
   * Stopped data rejoins as a replica of leader. Without `fresh` the core found its WAL to be a
   * prefix of the leader's: start it as it is. With `fresh` it holds WAL the leader never had (or
   * cannot start, or cannot follow): rewind it when pg_rewind exists, else re-clone.
   */
  async rejoin(leader: MemberAddress, opts: { fresh?: boolean } = {}): Promise<void> {
    const pg = this.pg;
    const secrets = await this.secrets();
    writeMemberPassfile(pg, this.paths.passfile, secrets);
    if (!opts.fresh) {
      const wal = await this.stoppedWalEnd();
      if ('timeline' in wal) {
        const removed = removeNewerHistoryFiles(this.paths.dataDir, wal.timeline);
        if (removed.length > 0) this.o.log.info({ removed }, `removed history files newer than my timeline ${wal.timeline} (PostgreSQL re-fetches them and checks the fork point)`);
      }
      this.o.log.info(`following ${leader.name} with my data as it is`);
      await this.start('replica', leader);
      return;
    }
    // A rewind that did not give a replica able to follow is not tried again right away.
    const rewoundLately = this.lastRewindAt !== undefined && this.o.clock.now() - this.lastRewindAt < 30_000;
    if (pg.binaries.has.pgRewind && !this.startFailed && !rewoundLately) {
      this.lastRewindAt = this.o.clock.now();
      try {
        this.o.log.info(`rewinding my data against ${leader.name}`);
        await rewind(pg, { host: leader.host, port: leader.pgPort, user: DEFAULT_ROLES.rewind, password: secrets.rewind, passfile: this.paths.passfile }, this.upstream(leader));
        await this.start('replica', leader);
        return;
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'pg_rewind failed: re-cloning instead');
      }
    }
    this.o.log.info(`re-cloning from ${leader.name}`);
    moveAside(this.paths.dataDir, this.o.clock.now());
    try {
      await this.clone(leader);
    } finally {
      this.removeDiscardedData();
    }
  }
  private lastRewindAt: number | undefined;
  /** Since when this running replica has not been streaming (reset when it streams or stops). */
  private notStreamingSince: number | undefined;

  /** Old data dirs a re-clone moved aside go in the background (deleting them takes a while). */
  private removeDiscardedData(): void {
    removeMovedAside(this.paths.dataDir).then(
      (gone) => { if (gone.length > 0) this.o.log.info({ dirs: gone }, `removed ${gone.length} discarded data folder(s)`); },
      (err: Error) => this.o.log.warn({ err: err.message }, `could not remove a discarded data folder: ${err.message}`),
    );
  }

  async setSyncNames(names: readonly string[]): Promise<void> {
    await setSynchronousStandbys(this.pg, names.length > 0 ? { names, num: 1, method: 'ANY' } : null);
    this.o.log.info(`synchronous_standby_names = ${names.length > 0 ? `ANY 1 (${names.join(', ')})` : "'' (async)"}`);
  }

  /** Graceful stop (node shutdown): fast mode lets walsenders ship the remaining WAL. */
  async shutdown(): Promise<void> {
    if (this.instance?.isRunning) await this.instance.stop('fast', { timeoutMs: 10_000 });
    await this.instance?.closeAdmin();
  }

  async close(): Promise<void> {
    await this.instance?.closeAdmin();
  }

  /** The app role's password (for the db router's DATABASE_URL). */
  appPasswordFile(): string | undefined {
    const f = secretFile(this.paths.secretsDir, 'app');
    return fs.existsSync(f) ? f : undefined;
  }
}
