/**
 * A node: one `bulwark agent --node NAME` process. Composes the role, the agent API, metrics and
 * signals (SIGTERM/SIGINT stop gracefully, SIGHUP reloads the cluster file).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterSpec, NodeSpec } from '../config/types.js';
import { loadClusterFile, findNode, nodesWithRole } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { BulwarkError, isBulwarkError } from '../core/errors.js';
import { createRegistry } from '../observability/registry.js';
import { AgentApi, AgentClient, MEMBERS } from '../control-plane/agent-api/index.js';
import { CredentialRenewal, nodeCredentials, type TlsCredentials } from '../control-plane/certs/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './roles/role.js';
import { LbRole } from './roles/lb-role.js';
import { VoteBook, mountVoteApi } from '../control-plane/standby/index.js';
import { FirewallEnforcer, hostRuleset, mountProbeApi } from '../control-plane/host-firewall/index.js';
import { WebRole } from './roles/web-role.js';
import { IdleRole } from './roles/idle-role.js';
import { DbRole } from './roles/db-role.js';
import { MonitorRole } from './roles/monitor-role.js';
import { registerNodeMetrics } from '../observability/node-metrics.js';
import { Gauge } from 'prom-client';
import { EmbeddedDcsStore, mountEmbeddedDcs } from '../control-plane/pg-ha/dcs/index.js';

export function nodeDir(spec: ClusterSpec, name: string): string {
  return path.join(spec.stateDir, 'nodes', name);
}

function createRole(ctx: RoleContext): RoleRuntime {
  switch (ctx.node.role) {
    case 'lb': return new LbRole(ctx);
    case 'web': return new WebRole(ctx);
    case 'db': return ctx.spec.database ? new DbRole(ctx) : new IdleRole('db', ctx);
    case 'monitor': return new MonitorRole(ctx);
    default: return new IdleRole(ctx.node.role, ctx);
  }
}

export class NodeAgent {
  private spec: ClusterSpec;
  readonly node: NodeSpec;
  private readonly role: RoleRuntime;
  private readonly api: AgentApi;
  private readonly startedAt: number;
  private reloading: Promise<unknown> | undefined;

  /** A node with its credentials: issued here when this machine holds the cluster CA, else read from `pki/`. */
  static async create(spec: ClusterSpec, nodeName: string, clock: Clock, log: Logger): Promise<NodeAgent> {
    const credentials = await nodeCredentials(spec, findNode(spec, nodeName), clock);
    return new NodeAgent(spec, nodeName, credentials, clock, log);
  }

  private readonly agents: AgentClient;

  private constructor(spec: ClusterSpec, nodeName: string, private readonly credentials: TlsCredentials, private readonly clock: Clock, private readonly log: Logger) {
    this.spec = spec;
    this.node = findNode(spec, nodeName);
    const dir = nodeDir(spec, nodeName);
    fs.mkdirSync(dir, { recursive: true });
    const registry = createRegistry({ cluster: spec.cluster, node: nodeName, role: this.node.role });
    this.renewal = new CredentialRenewal({
      initial: credentials, clock, log,
      fetch: () => nodeCredentials(this.spec, this.node, clock),
      onChange: (next) => this.credentialsChanged(next),
    });
    registerNodeMetrics(registry, { stateDir: spec.stateDir, agentCertPem: () => this.renewal.credentials.cert });
    this.api = new AgentApi(log);
    this.agents = new AgentClient(credentials);
    const voteBook = this.mountVote(spec, clock);
    this.role = createRole({ spec, node: this.node, clock, log, registry, dir, credentials, agents: this.agents, ...(voteBook && { voteBook }) });
    this.startedAt = clock.now();
    const health = (): RoleHealth => this.health();
    new Gauge({ name: 'bulwark_node_healthy', help: '1 when the node does its job', registers: [registry],
      collect(): void {
        this.set(health().healthy ? 1 : 0);
      } });
    this.api.route('GET', '/health', () => {
      const h = this.health();
      return { status: h.healthy ? 200 : 503, body: { node: this.node.name, role: this.node.role, ...h } };
    }, MEMBERS);
    // Metrics say a lot about the cluster: the monitor (and admin) only.
    this.api.route('GET', '/metrics', async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType }), ['monitor']);
    this.api.route('GET', '/status', () => ({ status: 200, body: this.status() }), MEMBERS);
    this.api.route('POST', '/reload', async () => ({ status: 200, body: { node: this.node.name, result: await this.reload() } }));
    // The hourly renewal check, now (e.g. after copying a renewed pair here).
    this.api.route('POST', '/credentials/renew', async () => ({
      status: 200, body: { node: this.node.name, renewed: await this.renewal.check(), certificate: this.renewal.credentials.certPath },
    }));
    mountProbeApi(this.api, clock);
    this.role.routes?.(this.api);
    // The embedded DCS lives in one node's agent (any role), persisted in that node's folder.
    if (spec.database?.dcs.type === 'embedded' && spec.database.dcs.node === nodeName) {
      this.dcsStore = new EmbeddedDcsStore({ cluster: spec.cluster, clock, log, file: path.join(dir, 'dcs.json') });
      mountEmbeddedDcs(this.api, this.dcsStore);
    }
  }

  private dcsStore: EmbeddedDcsStore | undefined;
  private enforcer: FirewallEnforcer | undefined;
  private readonly renewal: CredentialRenewal;

  /** Everything that serves or presents this node's certificate takes the renewed one. */
  private async credentialsChanged(next: TlsCredentials): Promise<void> {
    this.api.setCredentials(next);
    this.agents.setCredentials(next);
    await this.role.credentialsChanged?.(next);
  }

  /** Every voter of the VIP election (by default every node) keeps a vote book behind its API. */
  private mountVote(spec: ClusterSpec, clock: Clock): VoteBook | undefined {
    const sb = spec.edge.standby;
    const lbs = nodesWithRole(spec, 'lb').map((n) => n.name);
    if (lbs.length < 2 || !sb.voters.includes(this.node.name)) return undefined;
    const book = new VoteBook({ voter: this.node.name, leaseMs: sb.leaseMs, freshMs: 2 * sb.heartbeatMs }, clock);
    mountVoteApi(this.api, book, lbs);
    return book;
  }

  /** The role's health, and unhealthy while the enforced host firewall could not be applied. */
  private health(): RoleHealth {
    const h = this.role.health();
    const fw = this.enforcer?.status().error;
    return fw ? { healthy: false, detail: `host firewall not applied: ${fw}; ${h.detail}` } : h;
  }

  status(): Record<string, unknown> {
    const h = this.health();
    return {
      cluster: this.spec.cluster, node: this.node.name, role: this.node.role, address: this.node.address,
      agentPort: this.node.agentPort, pid: process.pid, healthy: h.healthy, detail: h.detail,
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000), [this.node.role]: this.role.status(),
      ...(this.enforcer && { firewall: this.enforcer.status() }),
    };
  }

  async start(): Promise<void> {
    // The host firewall goes up first: nothing listens before the node's rules are in place.
    if (this.spec.firewall.host === 'enforce') {
      this.enforcer = new FirewallEnforcer(this.clock, this.log);
      await this.enforcer.enforce(hostRuleset(this.spec, this.node));
    }
    await this.api.listen(this.node.address, this.node.agentPort, this.credentials);
    await this.role.start();
    this.renewal.start();
    this.log.info({ role: this.node.role, address: this.node.address, agentPort: this.node.agentPort },
      `node ${this.node.name} (${this.node.role}) up; agent API on ${this.node.address}:${this.node.agentPort}${this.dcsStore ? '; hosting the embedded DCS' : ''}`);
  }

  /** Re-read the cluster file and apply it; the running config stays if anything fails. */
  async reload(): Promise<string> {
    if (this.reloading) await this.reloading.catch(() => {});
    const work = (async () => {
      const next = loadClusterFile(this.spec.sourcePath);
      const me = findNode(next, this.node.name);
      if (me.role !== this.node.role || me.address !== this.node.address || me.agentPort !== this.node.agentPort) {
        throw new Error(`node ${me.name} changed role, address or agent port: restart the node to apply that`);
      }
      // The firewall first: when nft refuses the new ruleset nothing has changed yet, and the
      // reload fails as a whole (the previous rules stay applied and enforced).
      let firewall = '';
      if (next.firewall.host === 'enforce') {
        // A new enforcer (plan-only → enforce) is kept only once it applied: a refused reload leaves none behind.
        const enforcer = this.enforcer ?? new FirewallEnforcer(this.clock, this.log);
        try {
          await enforcer.enforce(hostRuleset(next, me));
          this.enforcer = enforcer;
        } catch (err) {
          throw new BulwarkError('BWK_RELOAD_FAILED', `${(err as Error).message} (the previous rules stay in place)`,
            isBulwarkError(err) ? err.details : [], { cause: err });
        }
        firewall = '; host firewall re-applied';
      }
      let result = await this.role.reload(next);
      result += firewall;
      if (next.firewall.host !== 'enforce' && this.enforcer) {
        this.enforcer.stop();
        this.enforcer = undefined;
        result += '; host firewall no longer enforced (its rules stay until changed by hand)';
      }
      this.spec = next;
      this.log.info({ result }, `reload: ${result}`);
      return result;
    })();
    this.reloading = work;
    try {
      return await work;
    } catch (err) {
      const msg = isBulwarkError(err) ? err.describe() : (err as Error).message;
      this.log.error({ err: msg }, `reload failed, previous configuration kept: ${msg}`);
      throw err;
    } finally {
      this.reloading = undefined;
    }
  }

  async stop(): Promise<void> {
    this.log.info(`node ${this.node.name} stopping`);
    this.enforcer?.stop();
    this.renewal.stop();
    await this.role.stop();
    await this.api.close();
    this.agents.close();
    this.dcsStore?.close();
  }
}
