/**
 * The web role: runs the application as a supervised child (restarted with backoff when it
 * crashes) and checks it the way the edge will, so the node's own /health says whether the app
 * really answers.
 */
import type { AppSpec, ClusterSpec } from '../../config/types.js';
import { ChildSupervisor } from '../supervisor.js';
import { ActiveHealthCheck, httpProbe } from '../../data-plane/health/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';

export class WebRole implements RoleRuntime {
  readonly role = 'web' as const;
  private supervisor: ChildSupervisor | undefined;
  private check: ActiveHealthCheck | undefined;
  private app: AppSpec;

  constructor(private readonly ctx: RoleContext) {
    this.app = ctx.spec.web.app;
  }

  private appEnv(app: AppSpec): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    return {
      ...env,
      ...app.env,
      PORT: String(app.port),
      HOST: this.ctx.node.address,
      BULWARK_NODE: this.ctx.node.name,
      BULWARK_CLUSTER: this.ctx.spec.cluster,
      BULWARK_ROLE: 'web',
    };
  }

  async start(): Promise<void> {
    const app = this.app;
    this.supervisor = new ChildSupervisor({
      name: 'app', command: app.command, cwd: app.cwd, env: this.appEnv(app),
      backoff: { initialMs: app.restartBackoffMs.initial, maxMs: app.restartBackoffMs.max },
      stopTimeoutMs: app.stopTimeoutMs, clock: this.ctx.clock, logger: this.ctx.log,
    });
    this.supervisor.start();
    this.check = new ActiveHealthCheck({
      probe: httpProbe({ host: this.ctx.node.address, port: app.port, path: app.healthPath, timeoutMs: 1000, expectStatus: [] }),
      intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 2, clock: this.ctx.clock,
      onChange: (state, reason) => {
        // At start-up the first probe usually beats the app's bind: that is not news.
        const starting = reason.startsWith('first check failed');
        const line = state === 'up' ? `app is healthy: ${reason}` : starting ? `app not answering yet: ${reason}` : `app is unhealthy: ${reason}`;
        if (state === 'up' || starting) this.ctx.log.info({ app: state, reason }, line);
        else this.ctx.log.warn({ app: state, reason }, line);
      },
    });
    this.check.start();
  }

  async stop(): Promise<void> {
    this.check?.stop();
    await this.supervisor?.stop();
  }

  health(): RoleHealth {
    const st = this.supervisor?.status();
    if (!st || st.state !== 'running') return { healthy: false, detail: `app ${st?.state ?? 'not started'}${st?.lastError ? `: ${st.lastError}` : ''}` };
    const state = this.check?.state ?? 'unknown';
    if (state !== 'up') return { healthy: false, detail: `app running (pid ${st.pid}) but its health check is ${state}: ${this.check?.lastResult?.detail ?? 'no result yet'}` };
    return { healthy: true, detail: `app running (pid ${st.pid}) and answering on port ${this.app.port}` };
  }

  status(): Record<string, unknown> {
    return {
      app: { ...this.supervisor?.status(), port: this.app.port, check: this.check?.state, lastCheck: this.check?.lastResult?.detail },
    };
  }

  async reload(spec: ClusterSpec): Promise<string> {
    const next = spec.web.app;
    if (JSON.stringify(next) === JSON.stringify(this.app)) return 'application unchanged';
    await this.stop();
    this.app = next;
    await this.start();
    return 'application configuration changed: restarted the app';
  }
}
