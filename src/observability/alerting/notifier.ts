/**
 * Notifications to webhooks with Alertmanager's semantics and payload (webhook version 4), so any
 * receiver written for Alertmanager works unchanged:
 *   - alerts are grouped per receiver by the values of its `group_by` labels;
 *   - a new group waits `group_wait` before its first notification (alerts that fire together go
 *     out together);
 *   - then every `group_interval` it is sent again if it changed (an alert joined or resolved),
 *     or if `repeat_interval` has passed since the last notification while something still fires;
 *   - resolved alerts go out once (when `send_resolved`), then leave the group;
 *   - a failed delivery is retried with doubling backoff; what it carried counts as sent only once
 *     delivered, so a later flush carries it again if every retry failed;
 *   - what each group last delivered is kept in a notification log (Alertmanager's nflog) that
 *     survives a restart: a restarted monitor neither repeats a notification before its time nor
 *     forgets to say "resolved" for an alert it reported firing before it went down.
 * Every timer is on the injected Clock.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ReceiverSpec } from '../../config/types.js';
import type { Alert, ResolvedAlert } from './engine.js';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

/** What one group last delivered (kept across restarts). */
export interface NotificationLogEntry {
  readonly group: string;
  readonly receiver: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly lastSentAt: number;
  readonly sent: readonly { readonly status: 'firing' | 'resolved'; readonly alert: Alert | ResolvedAlert }[];
}

/** Where the notification log lives (a file on the monitor; memory in tests). */
export interface NotificationLog {
  load(): NotificationLogEntry[];
  save(entries: readonly NotificationLogEntry[]): void;
}

/** Delivers one payload; rejects on any failure (network, timeout, non-2xx). */
export type Deliver = (receiver: ReceiverSpec, payload: WebhookPayload) => Promise<void>;

export interface NotifierOptions {
  readonly clock: Clock;
  readonly externalUrl: string;
  readonly deliver: Deliver;
  /** One line per delivery outcome worth telling. */
  readonly onDelivery?: (e: { receiver: string; groupKey: string; ok: boolean; attempt: number; error?: string; alerts: number; status: string }) => void;
  /** First retry delay; doubles per attempt. */
  readonly backoffMs?: number;
  readonly log?: NotificationLog;
}

interface Member {
  alert: Alert | ResolvedAlert;
  status: 'firing' | 'resolved';
}

interface Group {
  readonly key: string;
  readonly receiver: ReceiverSpec;
  readonly labels: Record<string, string>;
  readonly members: Map<string, Member>;
  /** fingerprint → the alert and its status, as last delivered. */
  sent: Map<string, Member>;
  lastSentAt: number | undefined;
  timer: TimerHandle | undefined;
  delivering: boolean;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

export class Notifier {
  private groups = new Map<string, Group>();
  private stopped = false;

  constructor(private receivers: readonly ReceiverSpec[], private readonly o: NotifierOptions) {
    for (const e of o.log?.load() ?? []) this.restore(e);
  }

  /**
   * A group as it was before a restart: what it reported firing is firing until the engine's next
   * evaluation says otherwise (then it goes out as resolved); nothing is sent again before its
   * group_interval or repeat_interval says so.
   */
  private restore(e: NotificationLogEntry): void {
    const receiver = this.receivers.find((r) => r.name === e.receiver);
    const firing = e.sent.filter((m) => m.status === 'firing');
    if (!receiver || firing.length === 0 || this.groups.has(e.group)) return;
    const g: Group = {
      key: e.group, receiver, labels: { ...e.labels }, members: new Map(firing.map((m) => [m.alert.fingerprint, { ...m }])),
      sent: new Map(e.sent.map((m) => [m.alert.fingerprint, { ...m }])), lastSentAt: e.lastSentAt, timer: undefined, delivering: false,
    };
    g.timer = this.o.clock.setTimeout(() => this.tick(g), receiver.groupWaitMs);
    this.groups.set(g.key, g);
  }

  private persist(): void {
    if (!this.o.log) return;
    const entries: NotificationLogEntry[] = [];
    for (const g of this.groups.values()) {
      if (g.lastSentAt === undefined || g.sent.size === 0) continue;
      entries.push({ group: g.key, receiver: g.receiver.name, labels: g.labels, lastSentAt: g.lastSentAt, sent: [...g.sent.values()] });
    }
    this.o.log.save(entries);
  }

  setReceivers(receivers: readonly ReceiverSpec[]): void {
    this.receivers = receivers;
    const names = new Set(receivers.map((r) => r.name));
    for (const g of [...this.groups.values()]) if (!names.has(g.receiver.name)) this.drop(g);
  }

  /**
   * The alerts firing now (all of them, after an evaluation). Alerts of a group that are no
   * longer in the list are resolved at `now`.
   */
  update(firing: readonly Alert[]): void {
    if (this.stopped) return;
    const now = this.o.clock.now();
    const present = new Set<string>();
    for (const alert of firing) {
      for (const receiver of this.receivers) {
        if (!Object.entries(receiver.match).every(([k, v]) => alert.labels[k] === v)) continue;
        const g = this.groupOf(receiver, alert.labels);
        present.add(`${g.key}\n${alert.fingerprint}`);
        g.members.set(alert.fingerprint, { alert, status: 'firing' });
      }
    }
    for (const g of this.groups.values()) {
      for (const [fp, m] of g.members) {
        if (m.status === 'firing' && !present.has(`${g.key}\n${fp}`)) {
          m.status = 'resolved';
          m.alert = { ...m.alert, state: 'resolved', resolvedAt: now } as ResolvedAlert;
        }
      }
    }
  }

  private groupOf(receiver: ReceiverSpec, labels: Readonly<Record<string, string>>): Group {
    const all = receiver.groupBy.includes('...');
    const groupLabels: Record<string, string> = {};
    for (const k of all ? Object.keys(labels).sort() : [...receiver.groupBy].sort()) if (labels[k] !== undefined) groupLabels[k] = labels[k]!;
    const key = `${receiver.name}/{}:{${Object.entries(groupLabels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { key, receiver, labels: groupLabels, members: new Map(), sent: new Map(), lastSentAt: undefined, timer: undefined, delivering: false };
      this.groups.set(key, g);
      const group = g;
      g.timer = this.o.clock.setTimeout(() => this.tick(group), receiver.groupWaitMs);
    }
    return g;
  }

  /** group_wait ended or a group_interval passed: send if there is news or a repeat is due. */
  private tick(g: Group): void {
    if (this.stopped || this.groups.get(g.key) !== g) return;
    g.timer = this.o.clock.setTimeout(() => this.tick(g), g.receiver.groupIntervalMs);
    if (g.delivering) return;
    const now = this.o.clock.now();
    const toSend = [...g.members.values()].filter((m) => m.status === 'firing' || g.receiver.sendResolved);
    const changed = toSend.some((m) => g.sent.get(m.alert.fingerprint)?.status !== m.status)
      || [...g.sent].some(([fp, m]) => !g.members.has(fp) && m.status === 'firing');
    const anyFiring = toSend.some((m) => m.status === 'firing');
    const repeatDue = anyFiring && g.lastSentAt !== undefined && now - g.lastSentAt >= g.receiver.repeatIntervalMs;
    if (toSend.length > 0 && (changed || repeatDue)) void this.send(g, toSend);
    else this.dropResolved(g);
  }

  private dropResolved(g: Group): void {
    for (const [fp, m] of g.members) if (m.status === 'resolved') g.members.delete(fp);
    if (g.members.size === 0 && !g.delivering) this.drop(g);
  }

  private async send(g: Group, members: Member[]): Promise<void> {
    const payload = this.payload(g, members);
    const snapshot = new Map(members.map((m) => [m.alert.fingerprint, { alert: m.alert, status: m.status }] as const));
    const flushedAt = this.o.clock.now();
    g.delivering = true;
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        await this.o.deliver(g.receiver, payload);
        g.sent = snapshot;
        // Repeats count from the flush, so they stay on the group_interval grid.
        g.lastSentAt = flushedAt;
        this.persist();
        this.o.onDelivery?.({ receiver: g.receiver.name, groupKey: g.key, ok: true, attempt, alerts: members.length, status: payload.status });
        break;
      } catch (err) {
        const error = (err as Error).message;
        const last = attempt > g.receiver.retries || this.stopped;
        this.o.onDelivery?.({ receiver: g.receiver.name, groupKey: g.key, ok: false, attempt, error, alerts: members.length, status: payload.status });
        if (last) break;
        const delay = (this.o.backoffMs ?? 1000) * 2 ** (attempt - 1);
        await new Promise<void>((resolve) => this.o.clock.setTimeout(resolve, delay));
      }
    }
    g.delivering = false;
    // Resolved alerts were told (or given up on): they leave the group.
    for (const [fp, m] of snapshot) if (m.status === 'resolved' && g.members.get(fp)?.status === 'resolved') g.members.delete(fp);
    if (!g.receiver.sendResolved) for (const [fp, m] of g.members) if (m.status === 'resolved') g.members.delete(fp);
    if (g.members.size === 0 && this.groups.get(g.key) === g) this.drop(g);
  }

  /** The group is over (all clear, or its receiver is gone): forget it, here and in the log. */
  private drop(g: Group): void {
    this.o.clock.clearTimeout(g.timer);
    this.groups.delete(g.key);
    this.persist();
  }

  private payload(g: Group, members: Member[]): WebhookPayload {
    const alerts: WebhookAlert[] = members.map(({ alert, status }) => ({
      status,
      labels: { ...alert.labels },
      annotations: { ...alert.annotations },
      startsAt: new Date(alert.activeAt).toISOString(),
      endsAt: status === 'resolved' ? new Date((alert as ResolvedAlert).resolvedAt).toISOString() : ZERO_TIME,
      generatorURL: `${this.o.externalUrl}/#alert=${encodeURIComponent(alert.rule)}`,
      fingerprint: alert.fingerprint,
    }));
    return {
      version: '4',
      groupKey: g.key.slice(g.receiver.name.length + 1),
      truncatedAlerts: 0,
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
      receiver: g.receiver.name,
      groupLabels: { ...g.labels },
      commonLabels: common(alerts.map((a) => a.labels)),
      commonAnnotations: common(alerts.map((a) => a.annotations)),
      externalURL: this.o.externalUrl,
      alerts,
    };
  }

  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) this.o.clock.clearTimeout(g.timer);
    this.groups.clear();
  }
}

function common(maps: readonly Record<string, string>[]): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = { ...maps[0] };
  for (const m of maps.slice(1)) for (const k of Object.keys(out)) if (m[k] !== out[k]) delete out[k];
  return out;
}
