/**
 * The multi-machine DCS: etcd 3.4 through the `etcd3` client's raw RPCs.
 *
 * Keys under `/bulwark/<cluster>/`:
 *   leader          value = holder name, attached to a lease with the lock's TTL
 *   members/<name>  value = JSON data, attached to that member's own lease
 *   docs/<key>      value = JSON document, no lease
 * Versions are the key's mod_revision (as a decimal string). TTLs are whole seconds of an etcd
 * lease, rounded up, at least 2 s (etcd refuses shorter leases: `minTtlMs` is 2000).
 *
 * We write the transactions ourselves instead of using the library's Election/Lock helpers: those
 * campaign with a key per candidate and keep leases alive in the background (a holder would keep
 * its lock while its process lives, whether or not its HA loop still runs), while the Dcs contract
 * needs exact compare-and-set semantics the loop drives: create-only on create_revision == 0,
 * renew only while the value is ours, release only while the value is ours, and nothing renewed
 * behind the loop's back.
 *
 *   acquire  grant lease(ttl); txn if create_revision(leader) == 0 then put(leader, name, lease)
 *            (lost race: revoke the fresh lease)
 *   renew    get leader; value != name → false; keepalive its lease once (TTL 0 = gone → false);
 *            when the TTL asked for changed: grant a new lease and txn if mod_revision(leader) ==
 *            seen then put(leader, name, new lease), revoke the old one
 *   release  txn if value(leader) == name then delete(leader); revoke its lease
 *   read     one range over the prefix: a single linearizable revision
 *   wait     a watch on the prefix from (last revision this client saw + 1): nothing between a
 *            read and the wait is missed; resolves on the first event or at the timeout
 *
 * Every call (all its RPCs together) is bounded by timeoutMs: a gRPC deadline on each RPC plus a
 * timer on the clock; timeouts and connection failures reject with DcsUnavailableError. Writes
 * are never retried after they may have reached a server (a retried CAS would lie); a request
 * that provably never left (no connection) is retried once per other endpoint. Reads and lease
 * refreshes change nothing: they are asked again on UNAVAILABLE (a member with no leader, or a
 * dead one), until the call's deadline.
 *
 * The clock must be a wall clock (gRPC deadlines are absolute dates); its timers bound the calls.
 */
import type { Etcd3, IKeyValue, IResponseHeader } from 'etcd3';
import { systemClock, type Clock, type TimerHandle } from '../../../core/clock.js';
import { deadlineExceeded, endpointPolicy, globalPolicy, loadEtcd3, unavailable } from './etcd-faults.js';
import { byName, checkDocKey, checkExpectedVersion, checkName, checkTtl, DOC_KEYS, isPlainObject, toJsonText } from './common.js';
import {
  DcsUnavailableError,
  type ClusterView,
  type Dcs,
  type DocKey,
  type LeaderLock,
  type MemberData,
  type MemberRecord,
  type VersionedDoc,
} from './types.js';

export const ETCD_MIN_TTL_MS = 2000;

export interface EtcdDcsOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379` (scheme optional; https uses TLS). */
  readonly endpoints: readonly string[];
  readonly cluster: string;
  /** Bound on every call (default 2000 ms). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

type CallOptions = NonNullable<Parameters<Etcd3['kv']['range']>[1]>;
/** A lease this client granted: the TTL it asked for (the server may grant more). */
interface OwnLease {
  readonly id: string;
  readonly askedSec: number;
}

function text(b: Buffer | undefined): string {
  return b ? b.toString('utf8') : '';
}

export class EtcdDcs implements Dcs {
  readonly description: string;
  readonly minTtlMs = ETCD_MIN_TTL_MS;
  /** Created by op() (or waitForChange) once the library is loaded. */
  private client!: Etcd3;
  private readonly hosts: readonly string[];
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private readonly rangeStart: Buffer;
  private readonly rangeEnd: Buffer;
  private readonly leaderKey: Buffer;
  /** Leases this client granted, by id (to know the TTL it asked for); bounded. */
  private readonly ownLeases = new Map<string, OwnLease>();
  /** Granted TTL (s) by lease id, for LeaderLock.ttlMs; bounded. */
  private readonly grantedTtl = new Map<string, number>();
  /** Each member's lease and the data last written, for members this client touches. */
  private readonly memberLeases = new Map<string, OwnLease>();
  /** Revision of the last answer (watch start point). */
  private seen: number | undefined;
  private closed = false;
  private readonly pendingWaits = new Set<() => void>();

  constructor(opts: EtcdDcsOptions) {
    if (opts.endpoints.length === 0) throw new TypeError('EtcdDcs needs at least one endpoint');
    checkName(opts.cluster, 'cluster name');
    this.clock = opts.clock ?? systemClock;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.prefix = `/bulwark/${opts.cluster}/`;
    this.rangeStart = Buffer.from(this.prefix);
    this.rangeEnd = Buffer.from(this.prefix.slice(0, -1) + String.fromCharCode(this.prefix.charCodeAt(this.prefix.length - 1) + 1));
    this.leaderKey = this.key('leader');
    const hosts = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.description = `etcd ${hosts.map((h) => h.replace(/^https?:\/\//, '')).join(',')}`;
    this.hosts = hosts;
  }

  private async connect(): Promise<Etcd3> {
    if (this.client) return this.client;
    const { Etcd3 } = await loadEtcd3();
    const hosts = [...this.hosts];
    this.client ??= new Etcd3({
      hosts,
      faultHandling: {
        global: globalPolicy(hosts.length),
        // One endpoint: nothing to rest it for (calls would fail while etcd is back).
        host: () => (hosts.length === 1 ? globalPolicy(1) : endpointPolicy(this.clock)),
      },
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.min_reconnect_backoff_ms': 100,
      },
    });
    return this.client;
  }

  async read(): Promise<ClusterView> {
    return this.op('read', async (o) => {
      const res = await this.again(o, () => this.client.kv.range({ key: this.rangeStart, range_end: this.rangeEnd }, o));
      this.saw(res.header);
      let leaderKv: IKeyValue | undefined;
      const members: MemberRecord[] = [];
      const docs: Partial<Record<DocKey, VersionedDoc>> = {};
      for (const kv of res.kvs) {
        const name = text(kv.key).slice(this.prefix.length);
        if (name === 'leader') leaderKv = kv;
        else if (name.startsWith('members/')) {
          const data = parseJson(kv.value);
          if (isPlainObject(data)) members.push({ name: name.slice('members/'.length), data });
        } else if (name.startsWith('docs/')) {
          const key = name.slice('docs/'.length) as DocKey;
          const value = parseJson(kv.value);
          if (DOC_KEYS.includes(key) && value !== undefined) docs[key] = { value, version: kv.mod_revision };
        }
      }
      members.sort(byName);
      let leader: LeaderLock | undefined;
      if (leaderKv) {
        leader = { holder: text(leaderKv.value), version: leaderKv.mod_revision, ttlMs: await this.leaseTtlMs(leaderKv.lease, o) };
      }
      return { ...(leader ? { leader } : {}), members, docs };
    });
  }

  async acquireLeader(name: string, ttlMs: number): Promise<boolean> {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    const ttlSec = this.ttlSec(ttlMs);
    return this.op('acquire leader', async (o) => {
      const lease = await this.grant(ttlSec, o);
      let succeeded: boolean;
      try {
        const res = await this.client.kv.txn(
          {
            compare: [{ key: this.leaderKey, target: 'Create', result: 'Equal', create_revision: 0 }],
            success: [{ request_put: { key: this.leaderKey, value: Buffer.from(name), lease: lease.id } }],
            failure: [],
          },
          o,
        );
        this.saw(res.header);
        succeeded = res.succeeded;
      } catch (err) {
        // Outcome unknown: revoking the lease makes it "not acquired" (it deletes the key if the
        // put did land), so no lock outlives an acquire that reported failure longer than needed.
        this.revokeQuietly(lease.id);
        throw err;
      }
      if (!succeeded) this.revokeQuietly(lease.id);
      return succeeded;
    });
  }

  async renewLeader(name: string, ttlMs: number): Promise<boolean> {
    checkName(name, 'leader name');
    checkTtl(ttlMs);
    const ttlSec = this.ttlSec(ttlMs);
    return this.op('renew leader', async (o) => {
      const res = await this.again(o, () => this.client.kv.range({ key: this.leaderKey }, o));
      this.saw(res.header);
      const kv = res.kvs[0];
      if (!kv || text(kv.value) !== name || kv.lease === '0') return false;
      // A refresh twice over is a refresh: the keepalive may be asked again too.
      const granted = await this.again(o, () => this.keepAliveOnce(kv.lease, o));
      if (granted <= 0) return false; // the lease (and so the key) is gone
      const asked = this.ownLeases.get(kv.lease)?.askedSec ?? granted;
      if (asked === ttlSec) return true;
      // A different TTL: move the key to a new lease, only if it is exactly the key we saw.
      const lease = await this.grant(ttlSec, o);
      const t = await this.client.kv.txn(
        {
          compare: [{ key: this.leaderKey, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_put: { key: this.leaderKey, value: Buffer.from(name), lease: lease.id } }],
          failure: [],
        },
        o,
      );
      this.saw(t.header);
      if (!t.succeeded) {
        this.revokeQuietly(lease.id);
        return false;
      }
      this.revokeQuietly(kv.lease); // holds nothing any more
      return true;
    });
  }

  async releaseLeader(name: string): Promise<boolean> {
    checkName(name, 'leader name');
    return this.op('release leader', async (o) => {
      const t = await this.client.kv.txn(
        {
          compare: [{ key: this.leaderKey, target: 'Value', result: 'Equal', value: Buffer.from(name) }],
          success: [{ request_delete_range: { key: this.leaderKey, prev_kv: true } }],
          failure: [],
        },
        o,
      );
      this.saw(t.header);
      if (!t.succeeded) return false;
      const prev = t.responses[0]?.response_delete_range?.prev_kvs?.[0];
      if (prev && prev.lease !== '0') await this.revoke(prev.lease, o).catch(() => undefined);
      return true;
    });
  }

  async touchMember(name: string, data: MemberData, ttlMs: number): Promise<void> {
    checkName(name, 'member name');
    checkTtl(ttlMs);
    if (!isPlainObject(data)) throw new TypeError('DCS member data must be a JSON object');
    const value = Buffer.from(toJsonText(data, `member ${name}'s data`));
    const ttlSec = this.ttlSec(ttlMs);
    const key = this.key(`members/${name}`);
    await this.op('touch member', async (o) => {
      const cur = this.memberLeases.get(name);
      if (cur && cur.askedSec === ttlSec && (await this.keepAliveOnce(cur.id, o)) > 0) {
        // Lease refreshed; write the key only when it is not already this data on this lease.
        const t = await this.client.kv.txn(
          {
            compare: [
              { key, target: 'Value', result: 'Equal', value },
              { key, target: 'Lease', result: 'Equal', lease: cur.id },
            ],
            success: [],
            failure: [{ request_put: { key, value, lease: cur.id } }],
          },
          o,
        );
        this.saw(t.header);
        return;
      }
      const lease = await this.grant(ttlSec, o);
      const p = await this.client.kv.put({ key, value, lease: lease.id }, o);
      this.saw(p.header);
      this.memberLeases.set(name, lease);
      if (cur) this.revokeQuietly(cur.id);
    });
  }

  async deleteMember(name: string): Promise<void> {
    checkName(name, 'member name');
    await this.op('delete member', async (o) => {
      const res = await this.client.kv.deleteRange({ key: this.key(`members/${name}`) }, o);
      this.saw(res.header);
      const cur = this.memberLeases.get(name);
      if (cur) {
        this.memberLeases.delete(name);
        await this.revoke(cur.id, o).catch(() => undefined);
      }
    });
  }

  async setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): Promise<boolean> {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, true);
    const body = Buffer.from(toJsonText(value, `document ${key}`));
    const k = this.key(`docs/${key}`);
    // mod_revision of an absent key compares as 0: a version that is not a positive revision
    // must never match (it would turn "write if version == X" into "create").
    if (typeof expectedVersion === 'string' && !/^[1-9][0-9]{0,18}$/.test(expectedVersion)) return false;
    return this.op('set doc', async (o) => {
      if (expectedVersion === undefined) {
        const p = await this.client.kv.put({ key: k, value: body }, o);
        this.saw(p.header);
        return true;
      }
      const t = await this.client.kv.txn(
        {
          compare: [
            expectedVersion === null
              ? { key: k, target: 'Create', result: 'Equal', create_revision: 0 }
              : { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedVersion },
          ],
          success: [{ request_put: { key: k, value: body } }],
          failure: [],
        },
        o,
      );
      this.saw(t.header);
      return t.succeeded;
    });
  }

  async deleteDoc(key: DocKey, expectedVersion?: string): Promise<boolean> {
    checkDocKey(key);
    checkExpectedVersion(expectedVersion, false);
    const k = this.key(`docs/${key}`);
    if (typeof expectedVersion === 'string' && !/^[1-9][0-9]{0,18}$/.test(expectedVersion)) return false;
    return this.op('delete doc', async (o) => {
      if (expectedVersion === undefined) {
        const d = await this.client.kv.deleteRange({ key: k }, o);
        this.saw(d.header);
        return Number(d.deleted) > 0;
      }
      const t = await this.client.kv.txn(
        {
          compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedVersion }],
          success: [{ request_delete_range: { key: k } }],
          failure: [],
        },
        o,
      );
      this.saw(t.header);
      return t.succeeded && Number(t.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
    });
  }

  waitForChange(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    const wait = Math.max(0, timeoutMs);
    return new Promise<void>((resolve) => {
      let done = false;
      let stream: { cancel(): void } | undefined;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.clock.clearTimeout(timer);
        this.pendingWaits.delete(finish);
        if (stream) {
          try {
            stream.cancel();
          } catch {
            // already gone
          }
        }
        resolve();
      };
      const timer: TimerHandle = this.clock.setTimeout(finish, wait);
      this.pendingWaits.add(finish);
      const start = this.seen !== undefined ? this.seen + 1 : undefined;
      this.connect()
        .then((client) => client.watchClient.watch({ deadline: new Date(this.clock.now() + wait + 1000) }))
        .then((s) => {
          s.on('error', () => undefined); // unreachable or cancelled: the timer resolves us
          s.on('end', () => undefined);
          if (done) {
            s.cancel();
            return;
          }
          stream = s;
          s.on('data', (res) => {
            if (res.events && res.events.length > 0) {
              this.saw(res.header);
              finish();
            } else if (res.canceled && res.compact_revision && res.compact_revision !== '0') {
              finish(); // our start revision was compacted away: something changed
            }
          });
          s.write({ create_request: { key: this.rangeStart, range_end: this.rangeEnd, ...(start !== undefined ? { start_revision: start } : {}) } });
        })
        .catch(() => undefined);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const finish of [...this.pendingWaits]) finish();
    this.client?.close();
  }

  // ---- internals ----

  private key(rel: string): Buffer {
    return Buffer.from(this.prefix + rel);
  }

  private ttlSec(ttlMs: number): number {
    return Math.max(ETCD_MIN_TTL_MS, Math.ceil(ttlMs / 1000) * 1000) / 1000;
  }

  private saw(header: IResponseHeader | undefined): void {
    if (header?.revision) this.seen = Number(header.revision);
  }

  /**
   * One Dcs call: its RPCs share a deadline (gRPC) and a timer (clock); anything that is not a
   * clean answer becomes DcsUnavailableError.
   */
  private async op<T>(what: string, fn: (o: CallOptions) => Promise<T>): Promise<T> {
    if (this.closed) throw new DcsUnavailableError(`${this.description}: ${what}: client is closed`);
    const o: CallOptions = { deadline: new Date(this.clock.now() + this.timeoutMs) };
    let timer: TimerHandle | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(
        () => reject(new DcsUnavailableError(`${this.description}: ${what}: no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.connect().then(() => fn(o)), late]);
    } catch (err) {
      if (err instanceof DcsUnavailableError) throw err;
      const why = deadlineExceeded(err) ? `no answer within ${this.timeoutMs} ms` : (err as Error).message;
      throw new DcsUnavailableError(`${this.description}: ${what} failed: ${why}`, { cause: err });
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /**
   * A call that changes nothing, asked again with growing pauses until the call's deadline while
   * it meets gRPC UNAVAILABLE: a live member saying "not now" (no leader, the leader changed under
   * the request; an election takes about a second) or a dead one refusing the connection (a lease
   * keepalive is a stream, which the client does not move to another endpoint by itself). etcd's
   * own Go client retries only its immutable RPCs on these, as here.
   */
  private async again<T>(o: CallOptions, call: () => Promise<T>): Promise<T> {
    const deadline = (o.deadline as Date).getTime();
    for (let pause = 50; ; pause = Math.min(pause * 2, 400)) {
      try {
        return await call();
      } catch (err) {
        if (!unavailable(err) || this.closed || this.clock.now() + pause >= deadline) throw err;
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, pause));
      }
    }
  }

  private async grant(ttlSec: number, o: CallOptions): Promise<OwnLease> {
    const g = await this.client.leaseClient.leaseGrant({ TTL: ttlSec }, o);
    if (g.error) throw new Error(`lease grant refused: ${g.error}`);
    const lease: OwnLease = { id: g.ID, askedSec: ttlSec };
    remember(this.ownLeases, g.ID, lease);
    remember(this.grantedTtl, g.ID, Number(g.TTL));
    return lease;
  }

  /** Refresh a lease once; the TTL it restarted at, or 0 when the lease no longer exists. */
  private async keepAliveOnce(id: string, o: CallOptions): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive(o);
    const ttl = await new Promise<number>((resolve, reject) => {
      stream.on('data', (res) => resolve(Number(res.TTL)));
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('lease keepalive stream ended without an answer')));
      stream.write({ ID: id });
    });
    stream.end();
    if (ttl > 0) remember(this.grantedTtl, id, ttl);
    return ttl;
  }

  private async revoke(id: string, o: CallOptions): Promise<void> {
    this.ownLeases.delete(id);
    this.grantedTtl.delete(id);
    await this.client.leaseClient.leaseRevoke({ ID: id }, o);
  }

  /** Best effort, in the background, with its own deadline (a lease left behind expires anyway). */
  private revokeQuietly(id: string): void {
    if (this.closed) return;
    this.revoke(id, { deadline: new Date(this.clock.now() + this.timeoutMs) }).catch(() => undefined);
  }

  private async leaseTtlMs(id: string, o: CallOptions): Promise<number> {
    if (id === '0') return 0;
    let sec = this.grantedTtl.get(id);
    if (sec === undefined) {
      try {
        const r = await this.again(o, () => this.client.leaseClient.leaseTimeToLive({ ID: id }, o));
        sec = Number(r.grantedTTL);
        if (sec > 0) remember(this.grantedTtl, id, sec);
      } catch {
        sec = 0; // display only: not worth failing a read
      }
    }
    return sec * 1000;
  }
}

function parseJson(b: Buffer | undefined): unknown {
  try {
    return JSON.parse(text(b)) as unknown;
  } catch {
    return undefined;
  }
}

/** Map insert that forgets the oldest entries past a small bound. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > 256) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
