/**
 * The lb role: runs the edge on the node's own address, and the VIP election. With two or more lb
 * nodes, the lb holding a majority lease (control-plane/standby) serves the VIP too; the others
 * stay warm (same config, health checks running, ready to bind). A lone lb simply holds the VIP.
 */
import path from 'node:path';
import { canonicalIp } from '../../core/ip-address.js';
import { nodesWithRole, type ClusterSpec, type EdgeTlsSpec } from '../../config/index.js';
import { Edge } from '../../data-plane/index.js';
import { ChallengeResponder, type CertificateStore } from '../../data-plane/tls/index.js';
import {
  AcmeCertificateSource, AcmePeers, EdgeCertificates, FilesCertificateSource, LocalCertificateSource, caDirOf, edgeCertNames, mountAcmeApi, type CertificateSource,
} from '../../control-plane/certs/index.js';
import { AcmeMetrics } from '../../observability/acme-metrics.js';
import { AccessLog } from '../../observability/access-log.js';
import { StandbyMetrics } from '../../observability/standby-metrics.js';
import { ApiError, type AgentApi } from '../../control-plane/agent-api/index.js';
import {
  InterfaceVip, LocalVip, ShellHooks, StandbyCandidate, VoterClients, type CandidateStatus, type VipPort,
} from '../../control-plane/standby/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';

const FAULTS = process.env['BULWARK_FAULT_INJECTION'] === '1';

export class LbRole implements RoleRuntime {
  readonly role = 'lb' as const;
  private edge: Edge | undefined;
  private accessLog: AccessLog | undefined;
  private vip: VipPort | undefined;
  private candidate: StandbyCandidate | undefined;
  private voters: VoterClients | undefined;
  /** A lone lb holds the VIP without an election. */
  private soleSince: number | undefined;
  private certs: EdgeCertificates<TlsPlan> | undefined;
  private readonly challenges = new ChallengeResponder();
  private acmeMetrics: AcmeMetrics | undefined;

  constructor(private readonly ctx: RoleContext) {}

  async start(): Promise<void> {
    const { spec, node, clock, log } = this.ctx;
    const sb = spec.edge.standby;
    this.accessLog = spec.edge.frontends.some((f) => f.accessLog) ? AccessLog.open(path.join(this.ctx.dir, 'access.log')) : undefined;
    await this.startCertificates();
    const edge = new Edge(spec.edge, {
      bindHosts: [node.address], clock, log, registry: this.ctx.registry, accessLog: this.accessLog,
      ...(this.certs && { certificates: this.certs.store }), challenges: this.challenges,
    });
    this.edge = edge;
    await edge.start();
    this.certs?.run();
    if (spec.edge.vip === node.address) return; // the lb's own address is the VIP: nothing to elect
    if (sb.interface) {
      const v = new InterfaceVip(edge, spec.edge.vip, sb.interface, log);
      await v.prepare();
      this.vip = v;
    } else {
      this.vip = new LocalVip(edge, spec.edge.vip, clock, sb.leaseMs);
    }
    const metrics = new StandbyMetrics(this.ctx.registry, () => this.candidate?.status().votes ?? 0, clock, Math.max(5000, 4 * sb.leaseMs));
    if (nodesWithRole(spec, 'lb').length < 2) {
      await this.vip.acquire();
      this.soleSince = clock.now();
      metrics.set('active');
      log.info(`VIP ${this.vip.describe()}: ACTIVE, the only lb of the cluster`);
      return;
    }
    const voters = new Map(spec.nodes.filter((n) => sb.voters.includes(n.name)).map((n) => [n.name, n]));
    this.voters = new VoterClients(voters, this.ctx.agents, this.ctx.voteBook ? { name: node.name, book: this.ctx.voteBook } : undefined);
    this.candidate = new StandbyCandidate({
      policy: {
        name: node.name, priority: node.priority, leaseMs: sb.leaseMs, preempt: sb.preempt, preemptDelayMs: sb.preemptDelayMs, minHoldMs: sb.minHoldMs,
      },
      heartbeatMs: sb.heartbeatMs, announceIntervalMs: sb.announceIntervalMs, voters: sb.voters, voterPort: this.voters, vip: this.vip,
      hooks: new ShellHooks(sb.notify, { vip: spec.edge.vip, node: node.name }, this.ctx.dir, log, clock), health: () => this.health(), clock, log,
      onTransition: (mem, tookOverMs) => metrics.set(mem.state, tookOverMs),
    });
    this.candidate.start();
  }

  /** HTTPS: fill the certificate store from the configured source before any listener opens. */
  private async startCertificates(): Promise<void> {
    const plan = tlsPlan(this.ctx.spec);
    if (!plan) return;
    this.certs = new EdgeCertificates((p, store) => this.certificateSource(p, store));
    await this.certs.start(plan);
  }

  private certificateSource(plan: TlsPlan, store: CertificateStore): CertificateSource {
    const { spec, clock, log } = this.ctx;
    const { tls } = plan;
    if (tls.source === 'files') return new FilesCertificateSource(tls.certificates, store, clock, log);
    if (tls.source === 'acme') {
      return new AcmeCertificateSource({
        spec: tls.acme!, dir: this.ctx.dir, caDir: caDirOf(spec), cluster: spec.cluster, store, challenges: this.challenges,
        peers: new AcmePeers(nodesWithRole(spec, 'lb').filter((n) => n.name !== this.ctx.node.name), this.ctx.agents),
        holdsVip: () => spec.edge.vip === this.ctx.node.address || this.standbyStatus()?.state === 'active', clock, log, counters: this.acmeMetrics ??= new AcmeMetrics(this.ctx.registry),
      });
    }
    return new LocalCertificateSource({ caDir: caDirOf(spec), cluster: spec.cluster, dir: this.ctx.dir, names: plan.names, store, clock, log });
  }

  /** A changed edge.tls: the new source takes over the same store (refused, changing nothing, when it cannot serve). */
  private async reloadCertificates(spec: ClusterSpec): Promise<string> {
    const plan = tlsPlan(spec);
    if (!this.certs) return plan ? '; edge.tls added: restart this lb to serve HTTPS' : '';
    if (!plan) return '; edge.tls removed: its certificates stay loaded until this lb restarts';
    return (await this.certs.reload(plan)) ? `; edge.tls applied (certificates now from source ${plan.tls.source})` : '';
  }

  async stop(): Promise<void> {
    this.certs?.stop();
    // Give the VIP up first, so the passive can take it while our connections drain.
    await this.candidate?.stop();
    if (this.soleSince !== undefined) await this.vip?.release();
    if (this.vip instanceof InterfaceVip) this.vip.close();
    await this.edge?.stop(5_000);
    this.accessLog?.close();
  }

  health(): RoleHealth {
    if (!this.edge) return { healthy: false, detail: 'edge not started' };
    const st = this.edge.status();
    const dead = st.backends.filter((b) => !b.servers.some((s) => s.up && !s.draining));
    if (dead.length > 0) return { healthy: false, detail: `no server up in backend(s) ${dead.map((b) => b.name).join(', ')}` };
    return { healthy: true, detail: `${st.frontends.length} frontend(s), ${st.backends.length} backend(s) with servers up` };
  }

  private standbyStatus(): CandidateStatus | undefined {
    if (this.candidate) return this.candidate.status();
    if (this.soleSince === undefined || !this.vip) return undefined;
    return {
      state: 'active', since: this.soleSince, reason: 'the only lb of the cluster', holder: this.ctx.node.name, votes: 0, voters: 0,
      majority: 0, leaseValidForMs: 0, takeovers: 1, lastTakeoverMs: null, vip: this.vip.describe(),
    };
  }

  status(): Record<string, unknown> {
    const standby = this.standbyStatus();
    const source = this.certs?.current;
    // A files change that did not load: the previous certificates are still served, say why.
    const reloadError = source instanceof FilesCertificateSource ? source.lastError : undefined;
    const certificates = this.certs?.store.served().map((c) => ({ ...c, notAfter: c.notAfter.toISOString(), ...(reloadError !== undefined && { reloadError }) }));
    const acme = source instanceof AcmeCertificateSource ? source.status() : undefined;
    return { vip: this.ctx.spec.edge.vip, holdsVip: standby?.state === 'active', standby, certificates, ...(acme && { acme }), ...(this.edge?.status() ?? {}) };
  }

  async reload(spec: ClusterSpec): Promise<string> {
    const before = this.ctx.spec.edge;
    if (spec.edge.vip !== before.vip) throw new Error(`edge.vip changed (${before.vip} → ${spec.edge.vip}): restart the lb nodes to move the VIP`);
    const tlsNote = await this.reloadCertificates(spec);
    await this.edge!.reload(spec.edge);
    const standbyChanged = JSON.stringify(spec.edge.standby) !== JSON.stringify(before.standby);
    return `edge reloaded with ${spec.edge.frontends.length} frontend(s) and ${spec.edge.backends.length} backend(s)`
      + (standbyChanged ? '; edge.standby changes apply when this lb restarts' : '') + tlsNote;
  }

  routes(api: AgentApi): void {
    api.route('POST', '/drain', (req) => {
      const body = req.body as { server?: unknown; drain?: unknown } | undefined;
      if (!body || typeof body.server !== 'string' || body.server === '') throw new ApiError(400, 'body must be {"server": "<name>", "drain": true|false}');
      if (body.drain !== undefined && typeof body.drain !== 'boolean') throw new ApiError(400, '"drain" must be true or false');
      const changed = this.edge!.drain(body.server, body.drain ?? true);
      if (changed.length === 0) throw new ApiError(404, `no backend has a server named ${body.server}`);
      return { status: 200, body: { changed } };
    });
    // Mounted with any edge.tls: a reload may switch the source to acme.
    if (this.ctx.spec.edge.tls) mountAcmeApi(api, this.challenges, () => (this.certs?.current instanceof AcmeCertificateSource ? this.certs.current : undefined));
    // The monitor puts bans on the dashboard's timeline.
    api.route('GET', '/firewall/bans', () => ({ status: 200, body: { bans: this.edge!.bans(this.ctx.clock.now()) } }), ['monitor']);
    api.route('POST', '/firewall/bans/lift', (req) => {
      const given = (req.body as { client?: unknown } | undefined)?.client;
      // Clients are keyed by their canonical address (::ffff:10.0.0.7 is 10.0.0.7).
      const client = typeof given === 'string' ? canonicalIp(given) : undefined;
      if (client === undefined) throw new ApiError(400, 'body must be {"client": "<IP address>"}');
      const lifted = this.edge!.liftBan(client, this.ctx.clock.now());
      if (lifted.length === 0) throw new ApiError(404, `${client} is not banned on any frontend of ${this.ctx.node.name}`);
      return { status: 200, body: { client, frontends: lifted } };
    });
    api.route('POST', '/standby/switchover', async () => {
      if (!this.candidate) throw new ApiError(409, 'this cluster has one lb: there is nobody to hand the VIP to');
      const started = this.ctx.clock.now();
      try {
        const to = await this.candidate.stepDown('switchover requested');
        return { status: 200, body: { from: this.ctx.node.name, to, ms: this.ctx.clock.now() - started } };
      } catch (err) {
        throw new ApiError(409, (err as Error).message);
      }
    });
    if (FAULTS) {
      // Tests: behave as if this host were cut off from every other voter.
      api.route('POST', '/debug/standby-cut-off', (req) => {
        const on = (req.body as { on?: unknown } | undefined)?.on;
        if (typeof on !== 'boolean' || !this.voters) throw new ApiError(400, 'body must be {"on": true|false} on an elected lb');
        this.voters.cutOff = on;
        return { status: 200, body: { cutOff: on } };
      });
    }
  }
}

/** What the certificate source depends on (HSTS is the edge's business, applied by its own reload). */
interface TlsPlan {
  readonly tls: Omit<EdgeTlsSpec, 'hstsMaxAgeMs'>;
  /** The names of a `local` certificate (they follow the VIP and the lb nodes too). */
  readonly names: readonly string[];
}

function tlsPlan(spec: ClusterSpec): TlsPlan | undefined {
  const tls = spec.edge.tls;
  if (!tls) return undefined;
  const { hstsMaxAgeMs: _hsts, ...rest } = tls;
  return { tls: rest, names: tls.source === 'local' ? edgeCertNames(spec) : [] };
}
