/**
 * The web role: runs the application as a supervised child (restarted with backoff when it
 * crashes) and checks it the way the edge will, so the node's own /health says whether the app
 * really answers.
 */
import type { AppSpec, ClusterSpec } from '../../config/types.js';
import { sleep } from '../../core/clock.js';
import { ChildSupervisor } from '../supervisor.js';
import { ActiveHealthCheck, httpProbe, ProbeTls } from '../../data-plane/health/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';
import { Edge } from '../../data-plane/index.js';
import { dcsFromSpec } from '../../control-plane/pg-ha/dcs/from-spec.js';
import type { Dcs } from '../../control-plane/pg-ha/dcs/types.js';
import { readConfigDoc } from '../../control-plane/pg-ha/member/config-doc.js';
import { dbRouterSpec } from './db-router.js';
import { databaseEnv, writeDatabaseCa } from './database-env.js';
import { ApiError, type AgentApi } from '../../control-plane/agent-api/index.js';
import type { TlsCredentials } from '../../control-plane/certs/index.js';

const RESTART_TIMEOUT_MS = 60_000;

/** The app role's password, from the DCS config doc the initialising db member wrote. */
async function appPassword(dcs: Dcs): Promise<string | undefined> {
  const doc = await readConfigDoc(dcs).catch(() => undefined);
  return doc?.secrets.app;
}

export class WebRole implements RoleRuntime {
  readonly role = 'web' as const;
  private supervisor: ChildSupervisor | undefined;
  private check: ActiveHealthCheck | undefined;
  private app: AppSpec;
  private router: Edge | undefined;
  private dcs: Dcs | undefined;
  private dbEnv: Record<string, string> = {};
  private credentialTimer: NodeJS.Timeout | undefined;

  /** The db router's checks of the members' agent APIs present this node's certificate. */
  private readonly checkTls: ProbeTls;

  constructor(private readonly ctx: RoleContext) {
    this.app = ctx.spec.web.app;
    this.checkTls = new ProbeTls(ctx.credentials);
  }

  credentialsChanged(next: TlsCredentials): void {
    this.checkTls.update(next);
  }

  /** DATABASE_URL (read-write port) and DATABASE_READ_URL (read-only port) for the app, over TLS. */
  private databaseEnv(password: string): Record<string, string> {
    return databaseEnv(this.ctx.spec, this.ctx.node, password, writeDatabaseCa(this.ctx.dir, this.ctx.credentials.ca));
  }

  private async startRouter(): Promise<void> {
    const spec = this.ctx.spec;
    if (!spec.database) return;
    this.router = new Edge(dbRouterSpec(spec), {
      bindHosts: [this.ctx.node.address], clock: this.ctx.clock, log: this.ctx.log, registry: this.ctx.registry, graceMs: 2000,
      checkTls: this.checkTls,
    });
    await this.router.start();
    this.dcs = dcsFromSpec(spec, this.ctx.clock, this.ctx.agents);
    const password = await appPassword(this.dcs);
    if (password) {
      this.dbEnv = this.databaseEnv(password);
      return;
    }
    // The database is still bootstrapping: start the app now, restart it once credentials exist.
    this.ctx.log.info('database credentials not published yet: the app starts without DATABASE_URL and restarts when they are');
    this.credentialTimer = setInterval(() => {
      void appPassword(this.dcs!).then(async (pw) => {
        if (!pw || !this.credentialTimer) return;
        clearInterval(this.credentialTimer);
        this.credentialTimer = undefined;
        this.dbEnv = this.databaseEnv(pw);
        this.ctx.log.info('database credentials available: restarting the app with DATABASE_URL');
        await this.supervisor?.stop();
        this.startApp();
      });
    }, 1000);
    this.credentialTimer.unref();
  }

  private appEnv(app: AppSpec): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    return {
      ...env,
      ...this.dbEnv,
      ...app.env,
      PORT: String(app.port),
      HOST: this.ctx.node.address,
      BULWARK_NODE: this.ctx.node.name,
      BULWARK_CLUSTER: this.ctx.spec.cluster,
      BULWARK_ROLE: 'web',
    };
  }

  async start(): Promise<void> {
    await this.startRouter();
    this.startApp();
    this.startCheck();
  }

  private startApp(): void {
    const app = this.app;
    this.supervisor = new ChildSupervisor({
      name: 'app', command: app.command, cwd: app.cwd, env: this.appEnv(app),
      backoff: { initialMs: app.restartBackoffMs.initial, maxMs: app.restartBackoffMs.max },
      stopTimeoutMs: app.stopTimeoutMs, clock: this.ctx.clock, logger: this.ctx.log,
    });
    this.supervisor.start();
  }

  /** The app's health probe on this node: the steady check and a restart's wait use the same. */
  private appProbe(): ReturnType<typeof httpProbe> {
    return httpProbe({ host: this.ctx.node.address, port: this.app.port, path: this.app.healthPath, timeoutMs: 1000, expectStatus: [] });
  }

  private startCheck(): void {
    this.check = new ActiveHealthCheck({
      probe: this.appProbe(),
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
    if (this.credentialTimer) clearInterval(this.credentialTimer);
    this.credentialTimer = undefined;
    this.check?.stop();
    await this.supervisor?.stop();
    await this.router?.stop(1000);
    await this.dcs?.close().catch(() => {});
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
      ...(this.router ? { dbRouter: { ...this.router.status(), credentials: Object.keys(this.dbEnv).length > 0 } } : {}),
    };
  }

  /**
   * `POST /app/restart` (admin: `bulwark deploy app`): restart the app (a new version on disk is
   * picked up) and answer once a fresh probe of its health path succeeds, so the caller knows
   * when it may send traffic again.
   */
  routes(api: AgentApi): void {
    api.route('POST', '/app/restart', async () => {
      const clock = this.ctx.clock;
      const started = clock.now();
      if (!this.supervisor) throw new ApiError(409, 'the app is not started');
      await this.supervisor.restart();
      const app = this.app;
      const probe = this.appProbe();
      let last = 'no probe yet';
      while (clock.now() - started < RESTART_TIMEOUT_MS) {
        const r = await probe(new AbortController().signal);
        if (r.ok) return { status: 200, body: { node: this.ctx.node.name, pid: this.supervisor.status().pid, ms: clock.now() - started } };
        last = r.detail;
        await sleep(clock, 100);
      }
      throw new ApiError(504, `the app did not answer ${app.healthPath} within ${RESTART_TIMEOUT_MS / 1000}s of its restart (last: ${last})`);
    });
  }

  async reload(spec: ClusterSpec): Promise<string> {
    // The db router follows the members in the file (a replica added or removed), without a restart.
    let router = '';
    if (this.router && spec.database) {
      await this.router.reload(dbRouterSpec(spec));
      router = `; db router: ${spec.nodes.filter((n) => n.role === 'db').length} member(s)`;
    }
    const next = spec.web.app;
    if (JSON.stringify(next) === JSON.stringify(this.app)) return `application unchanged${router}`;
    this.check?.stop();
    await this.supervisor?.stop();
    this.app = next;
    this.startApp();
    this.startCheck();
    return `application configuration changed: restarted the app${router}`;
  }
}
