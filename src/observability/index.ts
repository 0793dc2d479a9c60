/** The observability capability: metrics every node serves, and the monitor (scrape, store, alerts, dashboard). */
export { createRegistry } from './registry.js';
export { EdgeMetrics, type EdgeView, type ServerView } from './edge-metrics.js';
export { StandbyMetrics } from './standby-metrics.js';
export { AccessLog, type AccessRecord } from './access-log.js';
export { registerNodeMetrics } from './node-metrics.js';
export { registerPgMetrics, replicationLagSeconds, type PgMetricsSource } from './pg-metrics.js';
export { Monitor, dashboardUrl, type MonitorOptions } from './monitor.js';
export { DashboardServer } from './dashboard/server.js';
export { postWebhook } from './alerting/webhook.js';
export { alertRules, BUILT_IN_RULES, type AlertRule } from './alerting/rules.js';
export { AlertEngine, type Alert } from './alerting/engine.js';
export { Notifier, type WebhookPayload } from './alerting/notifier.js';
export { parseExpr } from './promql/parse.js';
export { parseTextFormat } from './scrape/text-format.js';
