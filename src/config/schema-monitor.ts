/**
 * Schema + defaults for `monitor`: scraping, history retention, alert rules (built-in ones tuned
 * or disabled by name, new ones with a PromQL-subset `expr`), webhook receivers and the
 * dashboard's port. Rule expressions are parsed here so a typo is reported at its line.
 */
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import { describe, type MapView, type Reader } from './reader.js';
import type { MonitorRuleSpec, MonitorSpec, ReceiverSpec, Severity } from './types.js';
import { parseExpr } from '../observability/promql/parse.js';
import { label } from './value-rules.js';

/** The alerts every cluster gets (docs/monitoring.md); a rule of the same name tunes one. */
export const BUILT_IN_ALERTS = [
  'NodeDown', 'NodeUnhealthy', 'ServerDown', 'BackendNoHealthyServer', 'NoPrimary', 'ReplicaNotStreaming', 'ReplicationLagHigh',
  'FailoverHappened', 'VipTakeover', 'Http5xxRatioHigh', 'P99LatencyHigh', 'CertificateExpiring', 'DiskNearlyFull',
] as const;
export type BuiltInAlert = (typeof BUILT_IN_ALERTS)[number];

const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];
const ALERT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readMonitor(top: MapView): MonitorSpec {
  const m = top.map('monitor', KEYS.monitor);
  const d = DEFAULTS.monitor;
  const r = top.reader;
  const scrapeIntervalMs = m?.duration('scrape_interval') ?? d.scrapeIntervalMs;
  const scrapeTimeoutMs = m?.duration('scrape_timeout') ?? Math.min(Math.round(scrapeIntervalMs * 0.8), 10_000);
  if (m?.has('scrape_timeout') && scrapeTimeoutMs > scrapeIntervalMs) {
    r.issues.add(m.at('scrape_timeout'), `must be at most scrape_interval (${scrapeIntervalMs}ms)`);
  }
  const retention = m?.map('retention', KEYS.retention);
  const externalUrl = m?.str('external_url');
  if (externalUrl !== undefined && !isHttpUrl(externalUrl)) r.issues.add(m!.at('external_url'), `expected an http(s) URL, got ${JSON.stringify(externalUrl)}`);
  return {
    port: m?.port('port') ?? d.port,
    scrapeIntervalMs,
    scrapeTimeoutMs,
    retention: {
      ageMs: retention?.duration('age') ?? d.retention.ageMs,
      sizeBytes: retention?.size('size') ?? d.retention.sizeBytes,
    },
    rules: m ? readRules(m) : [],
    receivers: m ? readReceivers(m) : [],
    ...(externalUrl !== undefined && { externalUrl }),
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A duration where 0 is meaningful (`for: 0s` fires at once). */
function durationOrZero(m: MapView, key: string): number | undefined {
  const node = m.get(key);
  if (node?.kind === 'scalar' && (node.value === 0 || node.value === '0' || node.value === '0s' || node.value === '0ms')) return 0;
  return m.duration(key);
}

function stringMap(m: MapView, key: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  const map = m.map(key, null);
  for (const k of map?.keys() ?? []) {
    const node = map!.get(k)!;
    if (!LABEL_NAME.test(k)) {
      m.reader.issues.add(map!.at(k), `"${k}" is not a valid ${what} name (letters, digits and _, not starting with a digit)`);
      continue;
    }
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else m.reader.issues.add(map!.at(k), `expected a string, got ${describe(node)}`);
  }
  return out;
}

function readRules(m: MapView): MonitorRuleSpec[] {
  const r = m.reader;
  const seen = new Map<string, string>();
  const out: MonitorRuleSpec[] = [];
  for (const item of m.list('rules') ?? []) {
    const rule = r.map(item.node, item.path, KEYS.rule);
    if (!rule) continue;
    const name = rule.str('name', { required: true });
    if (name !== undefined && !ALERT_NAME.test(name)) r.issues.add(rule.at('name'), `expected an alert name of letters, digits and _ (like HighErrorRate), got ${JSON.stringify(name)}`);
    if (name !== undefined && seen.has(name)) r.issues.add(rule.at('name'), `rule ${name} is already defined at ${seen.get(name)}; tune a rule in one place`);
    if (name !== undefined) seen.set(name, item.path);
    const builtIn = name !== undefined && (BUILT_IN_ALERTS as readonly string[]).includes(name);
    const expr = rule.str('expr', { required: name !== undefined && !builtIn });
    if (expr !== undefined) {
      try {
        parseExpr(expr);
      } catch (err) {
        r.issues.add(rule.at('expr'), (err as Error).message);
      }
    }
    const forMs = durationOrZero(rule, 'for');
    const severity = rule.oneOf('severity', SEVERITIES);
    const enabled = rule.bool('enabled');
    out.push({
      name: name ?? '',
      ...(expr !== undefined && { expr }),
      ...(forMs !== undefined && { forMs }),
      ...(severity !== undefined && { severity }),
      labels: stringMap(rule, 'labels', 'label'),
      annotations: stringMap(rule, 'annotations', 'annotation'),
      enabled: enabled ?? true,
    });
  }
  return out;
}

function readReceivers(m: MapView): ReceiverSpec[] {
  const r = m.reader;
  const d = DEFAULTS.monitor.receiver;
  const names = new Set<string>();
  const out: ReceiverSpec[] = [];
  for (const item of m.list('receivers') ?? []) {
    const rec = r.map(item.node, item.path, KEYS.receiver);
    if (!rec) continue;
    const name = label(rec, 'name', { required: true });
    if (name !== undefined && names.has(name)) r.issues.add(rec.at('name'), `receiver ${name} is defined twice`);
    if (name !== undefined) names.add(name);
    const url = rec.str('url', { required: true });
    if (url !== undefined && !isHttpUrl(url)) r.issues.add(rec.at('url'), `expected an http:// or https:// URL of a webhook, got ${JSON.stringify(url)}`);
    const groupBy = labelList(r, rec, 'group_by');
    out.push({
      name: name ?? '',
      url: url ?? '',
      match: stringMap(rec, 'match', 'label'),
      groupBy: groupBy ?? [...d.groupBy],
      groupWaitMs: durationOrZero(rec, 'group_wait') ?? d.groupWaitMs,
      groupIntervalMs: rec.duration('group_interval') ?? d.groupIntervalMs,
      repeatIntervalMs: rec.duration('repeat_interval') ?? d.repeatIntervalMs,
      sendResolved: rec.bool('send_resolved') ?? d.sendResolved,
      timeoutMs: rec.duration('timeout') ?? d.timeoutMs,
      retries: rec.int('retries', { min: 0, max: 20 }) ?? d.retries,
    });
  }
  return out;
}

function labelList(r: Reader, m: MapView, key: string): string[] | undefined {
  const items = m.list(key);
  if (!items) return undefined;
  const out: string[] = [];
  for (const item of items) {
    const v = r.string(item.node, item.path);
    if (v === undefined) continue;
    if (v !== '...' && !LABEL_NAME.test(v)) r.issues.add(item.path, `expected a label name (or ... for every label), got ${JSON.stringify(v)}`);
    else out.push(v);
  }
  return out;
}
