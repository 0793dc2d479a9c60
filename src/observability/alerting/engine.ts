/**
 * Alert state, Prometheus-style: each evaluation runs every rule at the clock's now; each series
 * the expression returns is one alert, pending from the first evaluation that returns it and
 * firing once it has been returned for the rule's `for:`. An alert that stops being returned is
 * dropped when pending and resolved when firing. A rule that cannot be evaluated keeps its
 * alerts as they are (a broken rule must not resolve a real problem).
 */
import type { Clock } from '../../core/clock.js';
import type { Severity } from '../../config/types.js';
import { evaluateVector, type SeriesSource } from '../promql/evaluate.js';
import { renderTemplate, type AlertRule } from './rules.js';

export interface Alert {
  readonly rule: string;
  readonly fingerprint: string;
  /** alertname, severity, the series' labels and the rule's labels. */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly severity: Severity;
  readonly state: 'pending' | 'firing';
  /** When the expression first returned it (ms). */
  readonly activeAt: number;
  /** When it started firing (ms). */
  readonly firedAt?: number;
  readonly value: number;
}

export interface ResolvedAlert extends Omit<Alert, 'state'> {
  readonly state: 'resolved';
  readonly resolvedAt: number;
}

export interface Transition {
  readonly alert: Alert | ResolvedAlert;
  readonly to: 'firing' | 'resolved';
}

export class AlertEngine {
  private readonly alerts = new Map<string, Alert>();
  /** Last evaluation error per rule (cleared on success). */
  readonly errors = new Map<string, string>();

  constructor(private rules: readonly AlertRule[], private readonly source: SeriesSource, private readonly clock: Clock) {}

  setRules(rules: readonly AlertRule[]): void {
    this.rules = rules;
    const names = new Set(rules.map((r) => r.name));
    for (const [fp, a] of this.alerts) if (!names.has(a.rule)) this.alerts.delete(fp);
  }

  /** Alerts carried over from before a restart (their activeAt keeps counting towards `for:`). */
  restore(alerts: readonly Alert[]): void {
    const names = new Set(this.rules.map((r) => r.name));
    for (const a of alerts) if (names.has(a.rule)) this.alerts.set(a.fingerprint, a);
  }

  /** Runs every rule at `at` (default now): the monitor passes its round's start, an even grid. */
  evaluate(at?: number): Transition[] {
    const now = at ?? this.clock.now();
    const out: Transition[] = [];
    for (const rule of this.rules) {
      let items;
      try {
        items = evaluateVector(rule.ast, this.source, now);
        this.errors.delete(rule.name);
      } catch (err) {
        this.errors.set(rule.name, (err as Error).message);
        continue;
      }
      const seen = new Set<string>();
      for (const item of items) {
        const labels: Record<string, string> = { ...item.labels, ...rule.labels, alertname: rule.name, severity: rule.severity };
        const fp = fingerprint(labels);
        if (seen.has(fp)) continue;
        seen.add(fp);
        const annotations: Record<string, string> = {};
        for (const [k, v] of Object.entries(rule.annotations)) annotations[k] = renderTemplate(v, labels, item.value);
        const prev = this.alerts.get(fp);
        const activeAt = prev?.activeAt ?? now;
        const firing = prev?.state === 'firing' || now - activeAt >= rule.forMs;
        const alert: Alert = {
          rule: rule.name, fingerprint: fp, labels, annotations, severity: rule.severity, activeAt, value: item.value,
          state: firing ? 'firing' : 'pending',
          ...(firing && { firedAt: prev?.firedAt ?? now }),
        };
        this.alerts.set(fp, alert);
        if (firing && prev?.state !== 'firing') out.push({ alert, to: 'firing' });
      }
      for (const [fp, a] of this.alerts) {
        if (a.rule !== rule.name || seen.has(fp)) continue;
        this.alerts.delete(fp);
        if (a.state === 'firing') out.push({ alert: { ...a, state: 'resolved', resolvedAt: now }, to: 'resolved' });
      }
    }
    return out;
  }

  /** Pending and firing alerts, oldest first. */
  active(): Alert[] {
    return [...this.alerts.values()].sort((a, b) => a.activeAt - b.activeAt || a.rule.localeCompare(b.rule));
  }

  firing(): Alert[] {
    return this.active().filter((a) => a.state === 'firing');
  }
}

/** 64-bit FNV-1a of the sorted label pairs, hex: stable across restarts, like Alertmanager's. */
export function fingerprint(labels: Readonly<Record<string, string>>): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const text = Object.keys(labels).sort().map((k) => `${k}\xff${labels[k]}\xff`).join('');
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
