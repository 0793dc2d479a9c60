/**
 * A backend at run time: its servers (primary and backup), the balancer over each group, the
 * queue for requests that find every server at maxconn, the retry budget and the health checks.
 *
 * Selection order: a usable primary; else, if some primary is alive but full, queue; else a
 * usable backup (backups serve only while every primary is down); else nothing (503).
 */
import type { BackendSpec, ServerSpec } from '../../config/types.js';
import { createBalancer, type Balancer, type PickContext } from '../balancer/index.js';
import { ActiveHealthCheck, PassiveHealth, httpProbe, tcpProbe, type Probe, type ProbeTls } from '../health/index.js';
import type { Clock } from '../../core/clock.js';
import { RetryBudget } from './retry-budget.js';
import { UpstreamServer } from './upstream.js';

export const FULL = Symbol('full');

export interface QueueWaiter {
  readonly ctx: PickContext;
  /** Coarse-clock deadline; the owner times itself out. */
  queued: boolean;
  onServer(server: UpstreamServer): void;
  /** A reload replaced the backend this request waits in; it now waits in `backend`. */
  moveTo(backend: BackendRuntime): void;
}

export interface BackendEvents {
  serverStateChanged(backend: string, server: UpstreamServer, up: boolean, reason: string): void;
  /** tcp sessions to a server were cut (on-marked-down policy). */
  sessionsCut?(backend: string, server: UpstreamServer, count: number, reason: string): void;
}


export class BackendRuntime {
  spec: BackendSpec;
  servers: UpstreamServer[] = [];
  private primaries: UpstreamServer[] = [];
  private backups: UpstreamServer[] = [];
  private primaryBalancer!: Balancer<UpstreamServer>;
  private backupBalancer!: Balancer<UpstreamServer>;
  readonly budget: RetryBudget;
  private readonly checks = new Map<UpstreamServer, ActiveHealthCheck>();
  private readonly waiting: QueueWaiter[] = [];
  private exclude: UpstreamServer | undefined;
  /** The backend that replaced this one in a reload: slots freed by exchanges still running here wake its queue. */
  private successor: BackendRuntime | undefined;
  private readonly usable = (s: UpstreamServer): boolean => s !== this.exclude && s.alive() && s.hasSlot();
  retries = 0;

  constructor(
    spec: BackendSpec,
    private readonly clock: Clock,
    private readonly events: BackendEvents,
    /** Servers of the previous config, by key, so health and counters survive a reload. */
    previous?: Map<string, UpstreamServer>,
    previousChecks?: Map<UpstreamServer, ActiveHealthCheck>,
    private readonly checkTls?: ProbeTls,
  ) {
    this.spec = spec;
    this.budget = new RetryBudget(spec.retries.budgetRatio, spec.retries.minPerSecond);
    for (const s of spec.servers) {
      const key = `${s.name}@${s.host}:${s.port}`;
      let server = previous?.get(key);
      if (server) {
        server.update(s, spec.poolSize, spec.timeouts.keepAliveMs);
        server.passive.reconfigure(spec.passiveHealth);
      }
      else server = new UpstreamServer(spec.name, s.host, s.port, s, new PassiveHealth(spec.passiveHealth, clock), spec.poolSize, spec.timeouts.keepAliveMs);
      this.servers.push(server);
      this.checks.set(server, this.makeCheck(server, s, previousChecks?.get(server)));
    }
    this.regroup();
  }

  private makeCheck(server: UpstreamServer, s: ServerSpec, previous: ActiveHealthCheck | undefined): ActiveHealthCheck {
    const hc = this.spec.healthCheck;
    const probe: Probe = hc.type === 'tcp'
      ? tcpProbe({ host: s.host, port: hc.port ?? s.port, timeoutMs: hc.timeoutMs })
      : httpProbe({
          host: s.host, port: hc.port ?? s.port, path: s.checkPath ?? hc.path, hostHeader: hc.host, timeoutMs: hc.timeoutMs,
          expectStatus: hc.expectStatus, ...(this.checkTls && { tls: this.checkTls }),
        });
    return new ActiveHealthCheck({
      probe,
      intervalMs: hc.intervalMs,
      timeoutMs: hc.timeoutMs,
      rise: hc.rise,
      fall: hc.fall,
      clock: this.clock,
      initial: previous?.riseFall,
      onResult: (r) => {
        server.lastCheckDetail = r.detail;
        server.lastCheckAnswered = r.answered === true;
        // A server marked down for an answer (a promoted or lagging replica) keeps its sessions
        // to finish; once it stops answering at all, they would hang for as long as it is cut
        // off: cut them then.
        if (!r.ok && !r.answered && server.checkState === 'down' && this.spec.onMarkedDown === 'shutdown-unreachable') {
          this.cutSessions(server, `no answer while down (${r.detail})`);
        }
      },
      onChange: (state, reason) => {
        const wasUp = server.checkState !== 'down';
        server.checkState = state;
        server.lastChangeAt = this.clock.now();
        if (state === 'down') {
          server.closeIdle();
          if (this.spec.onMarkedDown === 'shutdown' || (this.spec.onMarkedDown === 'shutdown-unreachable' && !server.lastCheckAnswered)) {
            this.cutSessions(server, `marked down (${reason})`);
          }
        } else server.passive.reinstate();
        if (wasUp !== (state === 'up')) this.events.serverStateChanged(this.spec.name, server, state === 'up', reason);
        if (state === 'up') this.kickQueue();
      },
    });
  }

  private cutSessions(server: UpstreamServer, reason: string): void {
    const n = server.shutdownSessions();
    if (n > 0) this.events.sessionsCut?.(this.spec.name, server, n, reason);
  }

  private regroup(): void {
    this.primaries = this.servers.filter((s) => !s.backup);
    this.backups = this.servers.filter((s) => s.backup);
    this.primaryBalancer = createBalancer(this.spec.balance, this.primaries);
    this.backupBalancer = createBalancer(this.spec.balance, this.backups);
  }

  start(): void {
    for (const [server, check] of this.checks) {
      server.checkState = check.state;
      check.start();
    }
  }

  /** Stop health checks; servers that the successor keeps stay untouched. */
  stop(keep?: ReadonlySet<UpstreamServer>): void {
    for (const check of this.checks.values()) check.stop();
    for (const s of this.servers) if (!keep?.has(s)) s.closeIdle();
    for (const w of this.waiting.splice(0)) w.queued = false;
  }

  /**
   * A reload replaced this backend with `next`: its waiting requests move there (a reload must not
   * strand them until their queue timeout), and slots freed here from now on wake next's queue.
   */
  handOver(next: BackendRuntime): void {
    this.successor = next;
    for (const w of this.waiting.splice(0)) {
      w.moveTo(next);
      next.waiting.push(w); // already admitted: the new queue size applies to new arrivals
    }
    next.kickQueue();
  }

  /** Re-apply this backend's own settings to its servers (a failed reload may have changed them). */
  reapplySpec(): void {
    this.spec.servers.forEach((s, i) => {
      const server = this.servers[i]!;
      server.update(s, this.spec.poolSize, this.spec.timeouts.keepAliveMs);
      server.passive.reconfigure(this.spec.passiveHealth);
    });
  }

  healthChecks(): Map<UpstreamServer, ActiveHealthCheck> {
    return this.checks;
  }

  /**
   * A server for this request, FULL when it should queue, undefined when none can serve.
   * `avoid` is the server a retry must not reuse when another one can serve.
   */
  select(ctx: PickContext, avoid?: UpstreamServer): UpstreamServer | typeof FULL | undefined {
    this.exclude = avoid;
    let s = this.pickFrom(ctx);
    if (!s && avoid) {
      this.exclude = undefined;
      s = this.pickFrom(ctx);
    }
    this.exclude = undefined;
    if (s) return s;
    // Someone alive but every alive server is at maxconn: wait for a slot rather than fail.
    return this.anyAlive(this.primaries) || this.anyAlive(this.backups) ? FULL : undefined;
  }

  private pickFrom(ctx: PickContext): UpstreamServer | undefined {
    const p = this.primaryBalancer.pick(ctx, this.usable);
    if (p) return p;
    // On a retry the server that just failed counts as down, so the backups can take over.
    if (this.anyAlive(this.primaries, this.exclude)) return undefined;
    return this.backups.length > 0 ? this.backupBalancer.pick(ctx, this.usable) : undefined;
  }

  private anyAlive(list: readonly UpstreamServer[], except?: UpstreamServer): boolean {
    for (const s of list) if (s !== except && s.alive()) return true;
    return false;
  }

  /** Queue a request; false when the queue is full. */
  enqueue(w: QueueWaiter): boolean {
    if (this.waiting.length >= this.spec.queue.size) return false;
    w.queued = true;
    this.waiting.push(w);
    return true;
  }

  dequeue(w: QueueWaiter): void {
    if (!w.queued) return;
    w.queued = false;
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  queueLength(): number {
    return this.waiting.length;
  }

  /** A slot was freed or a server came up: hand servers to waiting requests in FIFO order. */
  kickQueue(): void {
    if (this.successor) return this.successor.kickQueue();
    while (this.waiting.length > 0) {
      const w = this.waiting[0]!;
      const s = this.select(w.ctx);
      if (s === undefined || s === FULL) return;
      this.waiting.shift();
      w.queued = false;
      w.onServer(s);
    }
  }

  findServer(name: string): UpstreamServer | undefined {
    return this.servers.find((s) => s.name === name);
  }
}
