/**
 * The monitor: every scrape interval it scrapes all nodes, stores what it got, evaluates the
 * alert rules, hands firing alerts to the notifier, computes the charts, derives timeline events
 * from the topology and pushes the new overview to dashboard streams. One round at a time, on
 * the injected clock; the history survives restarts (store/history.ts).
 */
import path from 'node:path';
import type { ClusterSpec, NodeSpec } from '../config/types.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { AgentClient } from '../control-plane/agent-api/index.js';
import { AlertEngine, type Alert, type Transition } from './alerting/engine.js';
import { Notifier, type Deliver } from './alerting/notifier.js';
import { fileNotificationLog } from './alerting/notification-log.js';
import { alertRules, type AlertRule } from './alerting/rules.js';
import type { MonitorView, SeriesAnswer } from './dashboard/api.js';
import { metricRanges } from './promql/parse.js';
import { scrapeRound, upSample, type Round } from './scrape/scraper.js';
import { buildOverview, topologyEvents, type Overview, type OverviewAlert, type TopologyFacts } from './scrape/topology.js';
import { chartDefs, chartRanges, computeCharts, type ChartDef, type ChartName } from './store/charts.js';
import { History, type MonitorEvent } from './store/history.js';

export interface MonitorOptions {
  readonly spec: ClusterSpec;
  readonly self: NodeSpec;
  /** The monitor node's folder: history goes to `<dir>/history`. */
  readonly dir: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly agents: AgentClient;
  readonly deliver: Deliver;
}

/** The up series live in a target of their own: they must not go stale with the node. */
const UP_TARGET = '__up__';

export function dashboardUrl(spec: ClusterSpec, self: NodeSpec): string {
  const host = self.address.includes(':') ? `[${self.address}]` : self.address;
  return `https://${host}:${spec.monitor.port}`;
}

export class Monitor implements MonitorView {
  private spec: ClusterSpec;
  private rules: AlertRule[];
  private readonly charts: ChartDef[];
  readonly history: History;
  readonly engine: AlertEngine;
  readonly notifier: Notifier;
  private timer: TimerHandle | undefined;
  private running = false;
  private abort = new AbortController();
  private facts: TopologyFacts | undefined;
  private lastOverview: Overview | undefined;
  private lastRound: Round | undefined;
  private readonly listeners = new Set<(kind: 'overview' | 'event', data: unknown) => void>();
  private roundDone: Promise<void> = Promise.resolve();
  readonly url: string;
  /** Deliveries by outcome, for the monitor's own metrics. */
  readonly deliveries = { ok: 0, failed: 0 };

  constructor(private readonly o: MonitorOptions) {
    this.spec = o.spec;
    this.url = dashboardUrl(o.spec, o.self);
    this.rules = alertRules(o.spec);
    this.charts = chartDefs(o.spec.monitor.scrapeIntervalMs);
    this.history = new History({
      dir: path.join(o.dir, 'history'), retention: o.spec.monitor.retention, clock: o.clock,
      intervalMs: o.spec.monitor.scrapeIntervalMs, ranges: this.ranges(),
    });
    this.engine = new AlertEngine(this.rules, this.history.series, o.clock);
    this.notifier = new Notifier(o.spec.monitor.receivers, {
      clock: o.clock, externalUrl: o.spec.monitor.externalUrl ?? this.url, deliver: o.deliver,
      log: fileNotificationLog(path.join(o.dir, 'notifications.json'), o.log),
      onDelivery: (d) => {
        if (d.ok) this.deliveries.ok++;
        else this.deliveries.failed++;
        if (d.ok) o.log.info({ receiver: d.receiver, group: d.groupKey, alerts: d.alerts, attempt: d.attempt }, `notified ${d.receiver}: ${d.status}, ${d.alerts} alert(s) of ${d.groupKey}`);
        else o.log.warn({ receiver: d.receiver, group: d.groupKey, attempt: d.attempt, err: d.error }, `notification to ${d.receiver} failed (attempt ${d.attempt}): ${d.error}`);
      },
    });
  }

  start(): void {
    const restored = this.history.restore();
    this.engine.restore(this.history.restoredAlerts());
    this.o.log.info({ lines: restored.lines, rules: this.rules.length, receivers: this.spec.monitor.receivers.length },
      `monitor: ${this.rules.length} alert rules, ${this.spec.monitor.receivers.length} receiver(s), scraping ${this.spec.nodes.length} nodes every ${this.spec.monitor.scrapeIntervalMs}ms; history restored (${restored.lines} lines); dashboard ${this.url}`);
    this.running = true;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = this.o.clock.setTimeout(() => {
      const started = this.o.clock.now();
      this.roundDone = this.round().catch((err: Error) => this.o.log.error({ err: err.message }, `monitor round failed: ${err.message}`))
        .finally(() => this.schedule(Math.max(0, started + this.spec.monitor.scrapeIntervalMs - this.o.clock.now())));
    }, delayMs);
  }

  /** One scrape round and everything that follows from it. */
  async round(): Promise<void> {
    const spec = this.spec;
    const round = await scrapeRound(spec.nodes, {
      agents: this.o.agents, timeoutMs: spec.monitor.scrapeTimeoutMs, cluster: spec.cluster, now: () => this.o.clock.now(),
      bans: spec.edge.frontends.some((f) => f.firewall?.ban !== undefined),
    }, this.abort.signal);
    if (!this.running) return;
    this.lastRound = round;
    const h = this.history;
    h.beginRound(round.t);
    for (const t of round.targets) h.recordScrape(t.node.name, round.t, t.samples);
    h.recordScrape(UP_TARGET, round.t, round.targets.map((t) => upSample(spec.cluster, t.node, t.up)));

    const before = this.engine.active().map((a) => `${a.fingerprint}:${a.state}`).join();
    // Evaluated at the round's start: rounds are one interval apart, so `for:` counts whole rounds.
    const transitions = this.engine.evaluate(round.t);
    for (const tr of transitions) this.announce(tr);
    this.notifier.update(this.engine.firing());
    const active = this.engine.active();
    if (active.map((a) => `${a.fingerprint}:${a.state}`).join() !== before) h.recordAlerts(active);

    h.recordCharts(round.t, computeCharts(this.charts, h.series, round.t));
    const { overview, facts } = buildOverview(spec, round, (node) => this.lagSeconds(node), this.overviewAlerts());
    for (const e of topologyEvents(this.facts, facts, this.o.clock.now())) this.emit(e);
    this.facts = facts;
    this.lastOverview = overview;
    h.flush();
    h.series.prune(round.t);
    for (const l of this.listeners) l('overview', overview);
  }

  private lagSeconds(node: string): number | null {
    const v = this.history.series.instant('bulwark_pg_replication_lag_seconds', [{ label: 'node', op: '=', value: node }], this.o.clock.now());
    return v[0]?.value ?? null;
  }

  /** One log line per firing/resolved, and its timeline event. */
  private announce(tr: Transition): void {
    const a = tr.alert;
    const what = a.annotations['summary'] ?? Object.entries(a.labels).filter(([k]) => k !== 'alertname' && k !== 'severity').map(([k, v]) => `${k}=${v}`).join(' ');
    const fields = { alert: a.rule, severity: a.severity, labels: a.labels, fingerprint: a.fingerprint };
    if (tr.to === 'firing') this.o.log.warn(fields, `alert ${a.rule} FIRING (${a.severity}): ${what}`);
    else this.o.log.info(fields, `alert ${a.rule} resolved: ${what}`);
    const node = a.labels['node'];
    this.emit({
      at: new Date(this.o.clock.now()).toISOString(), kind: tr.to === 'firing' ? 'alert-firing' : 'alert-resolved',
      ...(node !== undefined && { node }), message: `${a.rule} ${tr.to === 'firing' ? 'firing' : 'resolved'}: ${what}`,
    });
  }

  private emit(e: MonitorEvent): void {
    this.history.recordEvent(e);
    for (const l of this.listeners) l('event', e);
  }

  private overviewAlerts(): OverviewAlert[] {
    return this.engine.active().map((a) => ({
      name: a.rule, severity: a.severity, state: a.state, labels: { ...a.labels }, annotations: { ...a.annotations },
      since: new Date(a.activeAt).toISOString(),
    }));
  }

  /** Firing alerts in the shape of `bulwark status --json` (DESIGN.md §4). */
  openAlerts(): { name: string; severity: string; node: string | null; since: string; summary: string | null; labels: Record<string, string> }[] {
    return this.engine.firing().map((a: Alert) => ({
      name: a.rule, severity: a.severity, node: a.labels['node'] ?? null, since: new Date(a.firedAt ?? a.activeAt).toISOString(),
      summary: a.annotations['summary'] ?? null, labels: { ...a.labels },
    }));
  }

  // ── MonitorView (the dashboard) ─────────────────────────────────────────────────────────────
  overview(): Overview {
    if (this.lastOverview) return { ...this.lastOverview, alerts: this.overviewAlerts() };
    const empty: Round = { t: this.o.clock.now(), targets: [] };
    return buildOverview(this.spec, empty, () => null, this.overviewAlerts()).overview;
  }

  series(name: ChartName, rangeMs: number): SeriesAnswer {
    const now = this.o.clock.now();
    const def = this.charts.find((c) => c.name === name)!;
    return { name, unit: def.unit, series: this.history.chart(name, now - rangeMs, now) };
  }

  events(limit: number): MonitorEvent[] {
    return this.history.events(limit);
  }

  subscribe(fn: (kind: 'overview' | 'event', data: unknown) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** How much history each metric needs: the longest window a chart or an alert rule reads it over. */
  private ranges(): ReturnType<typeof chartRanges> {
    const ranges = chartRanges(this.charts);
    for (const r of this.rules) metricRanges(r.ast, ranges);
    return ranges;
  }

  /** Rules and receivers follow the file; the interval, port and retention need a restart. */
  reload(spec: ClusterSpec): string {
    const before = this.spec.monitor;
    this.rules = alertRules(spec);
    this.engine.setRules(this.rules);
    this.history.setRanges(this.ranges());
    this.notifier.setReceivers(spec.monitor.receivers);
    this.spec = { ...spec, monitor: { ...spec.monitor, scrapeIntervalMs: before.scrapeIntervalMs, port: before.port, retention: before.retention } };
    const later = before.scrapeIntervalMs !== spec.monitor.scrapeIntervalMs || before.port !== spec.monitor.port
      || JSON.stringify(before.retention) !== JSON.stringify(spec.monitor.retention);
    return `monitor: ${this.rules.length} alert rules, ${spec.monitor.receivers.length} receiver(s)${later ? '; scrape_interval, port and retention changes apply when the monitor restarts' : ''}`;
  }

  status(): Record<string, unknown> {
    const r = this.lastRound;
    return {
      url: this.url,
      lastRound: r ? { at: new Date(r.t).toISOString(), up: r.targets.filter((t) => t.up).length, targets: r.targets.length } : null,
      series: this.history.series.seriesCount(),
      alerts: { firing: this.engine.firing().length, pending: this.engine.active().length - this.engine.firing().length },
      ruleErrors: Object.fromEntries(this.engine.errors),
      deliveries: this.deliveries,
    };
  }

  lastRoundAt(): number | undefined {
    return this.lastRound?.t;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.clock.clearTimeout(this.timer);
    this.abort.abort();
    await this.roundDone;
    this.abort = new AbortController();
    this.notifier.stop();
    this.history.close();
  }
}
