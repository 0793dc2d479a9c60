/**
 * The monitor role: scrapes every node, keeps the history, evaluates alerts, notifies webhooks
 * and serves the dashboard over HTTPS on `monitor.port` (src/observability). Its agent API adds
 * GET /monitor/alerts, which `bulwark status` reads.
 */
import { Counter, Gauge } from 'prom-client';
import type { ClusterSpec } from '../../config/types.js';
import { MEMBERS, type AgentApi } from '../../control-plane/agent-api/index.js';
import { DashboardServer, Monitor, postWebhook } from '../../observability/index.js';
import type { RoleContext, RoleHealth, RoleRuntime } from './role.js';
import type { TlsCredentials } from '../../control-plane/certs/index.js';

export class MonitorRole implements RoleRuntime {
  readonly role = 'monitor' as const;
  private readonly monitor: Monitor;
  private readonly dashboard: DashboardServer;
  private dashboardError: string | undefined;

  constructor(private readonly ctx: RoleContext) {
    const { spec, node, clock, log } = ctx;
    this.monitor = new Monitor({ spec, self: node, dir: ctx.dir, clock, log, agents: ctx.agents, deliver: postWebhook });
    // The node's own certificate (cluster CA, its address as SAN) is the dashboard's.
    this.dashboard = new DashboardServer({ host: node.address, port: spec.monitor.port, cert: ctx.credentials.cert, key: ctx.credentials.key, view: this.monitor });
    const m = this.monitor;
    const reg = [ctx.registry];
    new Gauge({ name: 'bulwark_monitor_series', help: 'Series the monitor holds in memory', registers: reg, collect() { this.set(m.history.series.seriesCount()); } });
    new Gauge({ name: 'bulwark_monitor_alerts', help: 'Alerts by state', labelNames: ['state'], registers: reg,
      collect() {
        const active = m.engine.active();
        this.set({ state: 'firing' }, active.filter((a) => a.state === 'firing').length);
        this.set({ state: 'pending' }, active.filter((a) => a.state === 'pending').length);
      } });
    // A counter (rate() and increase() apply), read from the monitor's tallies when scraped.
    new Counter({ name: 'bulwark_monitor_notifications_total', help: 'Webhook deliveries since start, by outcome', labelNames: ['outcome'], registers: reg,
      collect() {
        this.reset();
        this.inc({ outcome: 'ok' }, m.deliveries.ok);
        this.inc({ outcome: 'failed' }, m.deliveries.failed);
      } });
    new Gauge({ name: 'bulwark_monitor_history_bytes', help: 'Size of the history on disk', registers: reg, collect() { this.set(m.history.diskBytes()); } });
  }

  async start(): Promise<void> {
    try {
      await this.dashboard.start();
    } catch (err) {
      // Scraping and alerting are worth more than the page: keep them running and say why.
      this.dashboardError = (err as Error).message;
      this.ctx.log.error({ err: this.dashboardError }, `dashboard not served: ${this.dashboardError}`);
    }
    this.monitor.start();
  }

  credentialsChanged(next: TlsCredentials): void {
    this.dashboard.setCertificate(next.cert, next.key);
  }

  async stop(): Promise<void> {
    await this.dashboard.stop();
    await this.monitor.stop();
  }

  health(): RoleHealth {
    const last = this.monitor.lastRoundAt();
    const late = 3 * this.ctx.spec.monitor.scrapeIntervalMs + this.ctx.spec.monitor.scrapeTimeoutMs;
    if (this.dashboardError) return { healthy: false, detail: `scraping, but the dashboard is down: ${this.dashboardError}` };
    if (last !== undefined && this.ctx.clock.now() - last > late) return { healthy: false, detail: `no scrape round for ${Math.round((this.ctx.clock.now() - last) / 1000)}s` };
    const s = this.monitor.status() as { lastRound: { up: number; targets: number } | null; alerts: { firing: number } };
    return { healthy: true, detail: s.lastRound ? `${s.lastRound.up}/${s.lastRound.targets} nodes up, ${s.alerts.firing} alert(s) firing; ${this.monitor.url}` : `starting; ${this.monitor.url}` };
  }

  status(): Record<string, unknown> {
    return { ...this.monitor.status(), ...(this.dashboardError && { dashboardError: this.dashboardError }) };
  }

  async reload(spec: ClusterSpec): Promise<string> {
    return this.monitor.reload(spec);
  }

  routes(api: AgentApi): void {
    api.route('GET', '/monitor/alerts', () => ({ status: 200, body: { url: this.monitor.url, alerts: this.monitor.openAlerts() } }), MEMBERS);
  }
}
