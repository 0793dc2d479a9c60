/**
 * The lb role: runs the edge. Until the standby capability lands, the lb with the highest
 * priority binds the VIP as well as its own address; the others serve on their own address only,
 * warm (health state known), ready for a manual switch.
 */
import path from 'node:path';
import type { ClusterSpec } from '../../config/types.js';
import { Edge } from '../../data-plane/index.js';
import { AccessLog } from '../../observability/access-log.js';
import { ApiError, type AgentApi } from '../../control-plane/agent-api/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';

export function vipHolder(spec: ClusterSpec): string | undefined {
  const lbs = spec.nodes.filter((n) => n.role === 'lb');
  lbs.sort((a, b) => b.priority - a.priority);
  return lbs[0]?.name;
}

export class LbRole implements RoleRuntime {
  readonly role = 'lb' as const;
  private edge: Edge | undefined;
  private accessLog: AccessLog | undefined;
  private readonly holdsVip: boolean;

  constructor(private readonly ctx: RoleContext) {
    this.holdsVip = vipHolder(ctx.spec) === ctx.node.name;
  }

  async start(): Promise<void> {
    const { spec, node } = this.ctx;
    this.accessLog = spec.edge.frontends.some((f) => f.accessLog) ? AccessLog.open(path.join(this.ctx.dir, 'access.log')) : undefined;
    const bindHosts = this.holdsVip && spec.edge.vip !== node.address ? [node.address, spec.edge.vip] : [node.address];
    this.edge = new Edge(spec.edge, {
      bindHosts, clock: this.ctx.clock, log: this.ctx.log, registry: this.ctx.registry, accessLog: this.accessLog,
    });
    await this.edge.start();
    if (!this.holdsVip) this.ctx.log.info(`passive: serving on ${node.address} only; the VIP ${spec.edge.vip} is held by ${vipHolder(spec)} (automatic takeover comes with the standby capability)`);
  }

  async stop(): Promise<void> {
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

  status(): Record<string, unknown> {
    return { vip: this.ctx.spec.edge.vip, holdsVip: this.holdsVip, ...(this.edge?.status() ?? {}) };
  }

  async reload(spec: ClusterSpec): Promise<string> {
    await this.edge!.reload(spec.edge);
    return `edge reloaded with ${spec.edge.frontends.length} frontend(s) and ${spec.edge.backends.length} backend(s)`;
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
  }
}
