/**
 * Edge metrics. The per-request metrics (request count and duration) are kept in plain per-label-
 * set cells found through nested maps of the label strings, so a request costs a few map lookups
 * and additions: no label object, no label hashing or validation, no string keys built. The
 * cells reach prom-client only when the registry is read (the counter's `collect`, the
 * histogram's own `get`), which keeps the exposition exactly what prom-client would print.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FIREWALL_REASONS } from '../data-plane/edge-firewall/index.js';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The firewall's own refusal reasons (see FIREWALL_REASONS); `ban` is a client getting banned, not a refusal. */
export const FIREWALL_REFUSALS: ReadonlySet<string> = new Set(FIREWALL_REASONS);
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type RequestLabels = { frontend: string; backend: string; server: string };
type DurationLabels = { frontend: string; backend: string };

/** Requests of one (frontend, backend, server) not yet added to the counter, by status class. */
interface RequestCell {
  readonly labels: RequestLabels;
  readonly pending: number[];
  /** Bit per status class: already in `order`. */
  seen: number;
  readonly duration: DurationCell;
}

/** One label set of the duration histogram. */
interface DurationCell {
  readonly labels: DurationLabels;
  /** Observations per bucket (not cumulative); values above the last bound are only in count. */
  readonly counts: number[];
  sum: number;
  count: number;
  /** Listed in the histogram's output (from its first observation since the last reset). */
  listed: boolean;
}

/** A counter whose reset() also drops the increments not yet folded into it. */
class DeferredCounter<T extends string> extends Counter<T> {
  onReset: (() => void) | undefined;
  override reset(): void {
    super.reset();
    this.onReset?.();
  }
}

/**
 * prom-client's Histogram fed through cells: `observeCell` is a bucket search and three
 * additions. `get`/`getForPromString` return what prom-client's own would for the same
 * observations: the same series in the same order (first observation since reset), cumulative
 * buckets, +Inf, _sum and _count, with the same value objects. Only cells are used: this
 * histogram is never observed through the label-set API.
 */
class CellHistogram extends Histogram<'frontend' | 'backend'> {
  private listed: DurationCell[] = [];
  private readonly bounds: readonly number[] = DURATION_BUCKETS;
  private readonly meta: { name: string; help: string; type: 'histogram'; aggregator: 'sum' };

  constructor(config: { name: string; help: string; labelNames: ('frontend' | 'backend')[]; registers: Registry[] }) {
    super({ ...config, buckets: [...DURATION_BUCKETS] });
    this.meta = { name: config.name, help: config.help, type: 'histogram', aggregator: 'sum' };
  }

  newCell(labels: DurationLabels): DurationCell {
    return { labels, counts: this.bounds.map(() => 0), sum: 0, count: 0, listed: false };
  }

  observeCell(cell: DurationCell, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        cell.counts[i]!++;
        break;
      }
    }
    cell.sum += value;
    cell.count += 1;
    if (!cell.listed) {
      cell.listed = true;
      this.listed.push(cell);
    }
  }

  override reset(): void {
    super.reset();
    // Called by the base constructor too, before the fields above exist.
    if (!this.listed) return;
    for (const cell of this.listed) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
      cell.listed = false;
    }
    this.listed = [];
  }

  /** Same rows as prom-client's Histogram#getForPromString. */
  private rows(): { labels: Record<string, string | number>; sharedLabels: DurationLabels; value: number; metricName: string; exemplar: null | undefined }[] {
    const { name } = this.meta;
    const bucket = `${name}_bucket`;
    const rows = [];
    for (const cell of this.listed) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += cell.counts[i]!;
        rows.push({ labels: { le: this.bounds[i]! }, sharedLabels: cell.labels, value: acc, metricName: bucket, exemplar: null });
      }
      rows.push(
        { labels: { le: '+Inf' }, sharedLabels: cell.labels, value: cell.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: cell.labels, value: cell.sum, metricName: `${name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: cell.labels, value: cell.count, metricName: `${name}_count`, exemplar: undefined },
      );
    }
    return rows;
  }

  async getForPromString(): Promise<{ name: string; help: string; type: string; values: ReturnType<CellHistogram['rows']>; aggregator: string }> {
    const { name, help, type, aggregator } = this.meta;
    return { name, help, type, values: this.rows(), aggregator };
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<'frontend' | 'backend'>['get']>>> {
    // prom-client's splayLabels: shared labels after `le`, value objects without sharedLabels.
    const values = this.rows().map(({ labels, sharedLabels, value, metricName, exemplar }) => ({
      value, metricName, exemplar, labels: { ...labels, ...sharedLabels },
    }));
    const { name, help, type, aggregator } = this.meta;
    return { name, help, type, values, aggregator } as unknown as Awaited<ReturnType<Histogram<'frontend' | 'backend'>['get']>>;
  }
}

export interface ServerView {
  readonly backendName: string;
  readonly name: string;
  readonly active: number;
  readonly up: boolean;
  readonly draining: boolean;
  readonly backup: boolean;
}

export interface EdgeView {
  servers(): Iterable<ServerView>;
  queues(): Iterable<{ backend: string; length: number }>;
  connections(): Iterable<{ frontend: string; active: number }>;
  /** Certificates served by HTTPS frontends. */
  certificates?(): Iterable<{ names: readonly string[]; notAfter: Date; source: string }>;
}

export class EdgeMetrics {
  private readonly requests: DeferredCounter<'frontend' | 'backend' | 'server' | 'code'>;
  private readonly duration: CellHistogram;
  private readonly retries: Counter<'backend'>;
  private readonly ejections: Counter<'backend' | 'server'>;
  private readonly refused: Counter<'frontend' | 'reason'>;
  private readonly firewallRefused: Counter<'frontend' | 'reason'>;
  private readonly firewallBans: Counter<'frontend'>;
  private readonly transitions: Counter<'backend' | 'server' | 'to'>;
  private readonly handshakes: Counter<'frontend' | 'protocol' | 'alpn'>;
  private readonly handshakeFailures: Counter<'frontend' | 'reason'>;
  /** frontend → backend → server → cell. */
  private readonly requestCells = new Map<string, Map<string, Map<string, RequestCell>>>();
  /** frontend → backend → cell. */
  private readonly durationCells = new Map<string, Map<string, DurationCell>>();
  /** (cell, status class) in order of first request: the order prom-client would list them in. */
  private order: { cell: RequestCell; cls: number }[] = [];

  private static readonly byRegistry = new WeakMap<Registry, EdgeMetrics>();
  private readonly views: EdgeView[] = [];

  /**
   * The edge metrics of a registry, shared by every Edge in the process (an lb's edge and a web
   * node's db router report into the same metric families, told apart by their labels).
   */
  static attach(registry: Registry, view: EdgeView): EdgeMetrics {
    let m = EdgeMetrics.byRegistry.get(registry);
    if (!m) {
      m = new EdgeMetrics(registry);
      EdgeMetrics.byRegistry.set(registry, m);
    }
    m.views.push(view);
    return m;
  }

  private constructor(registry: Registry) {
    const views = this.views;
    const view: Required<EdgeView> = {
      *servers() { for (const v of views) yield* v.servers(); },
      *queues() { for (const v of views) yield* v.queues(); },
      *connections() { for (const v of views) yield* v.connections(); },
      *certificates() { for (const v of views) yield* v.certificates?.() ?? []; },
    };
    this.requests = new DeferredCounter({
      name: 'bulwark_http_requests_total', help: 'HTTP requests answered, by frontend, backend, server and status class',
      labelNames: ['frontend', 'backend', 'server', 'code'], registers: [registry],
      collect: () => this.flushRequests(),
    });
    this.requests.onReset = () => this.dropPendingRequests();
    this.duration = new CellHistogram({
      name: 'bulwark_http_request_duration_seconds', help: 'Time from request head received to response complete',
      labelNames: ['frontend', 'backend'], registers: [registry],
    });
    this.retries = new Counter({
      name: 'bulwark_backend_retries_total', help: 'Requests retried on another server', labelNames: ['backend'], registers: [registry],
    });
    this.ejections = new Counter({
      name: 'bulwark_backend_ejections_total', help: 'Servers ejected by passive health', labelNames: ['backend', 'server'], registers: [registry],
    });
    this.refused = new Counter({
      name: 'bulwark_edge_refused_total', help: 'Requests or connections refused by the edge itself, by reason (firewall verdicts included; ban counts new bans)',
      labelNames: ['frontend', 'reason'], registers: [registry],
    });
    // The firewall's share of the above under its own subsystem, so a dashboard of the firewall
    // need not know which edge reasons are its.
    this.firewallRefused = new Counter({
      name: 'bulwark_firewall_refused_total', help: 'Requests or connections the edge firewall refused, by reason (denied, not-allowed, banned, rate-limited, too-many-connections, untrusted-proxy)',
      labelNames: ['frontend', 'reason'], registers: [registry],
    });
    this.firewallBans = new Counter({
      name: 'bulwark_firewall_bans_total', help: 'Clients the edge firewall banned', labelNames: ['frontend'], registers: [registry],
    });
    this.transitions = new Counter({
      name: 'bulwark_backend_server_transitions_total', help: 'Server health transitions', labelNames: ['backend', 'server', 'to'], registers: [registry],
    });
    this.handshakes = new Counter({
      name: 'bulwark_tls_handshakes_total', help: 'TLS handshakes completed, by frontend, TLS version and negotiated application protocol (ALPN)',
      labelNames: ['frontend', 'protocol', 'alpn'], registers: [registry],
    });
    this.handshakeFailures = new Counter({
      name: 'bulwark_tls_handshake_failures_total', help: 'TLS handshakes that failed, by frontend and reason',
      labelNames: ['frontend', 'reason'], registers: [registry],
    });
    new Gauge({
      name: 'bulwark_tls_certificate_expiry_seconds', help: 'Seconds until each served certificate expires (negative once expired), by its first name and source',
      labelNames: ['certificate', 'source'], registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of view.certificates()) this.set({ certificate: c.names[0] ?? '', source: c.source }, Math.floor((c.notAfter.getTime() - now) / 1000));
      },
    });
    new Gauge({
      name: 'bulwark_backend_server_up', help: '1 when the server passes its health checks and is not ejected',
      labelNames: ['backend', 'server', 'backup'], registers: [registry],
      collect() {
        this.reset();
        for (const s of view.servers()) this.set({ backend: s.backendName, server: s.name, backup: String(s.backup) }, s.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bulwark_backend_server_draining', help: '1 while the server is drained', labelNames: ['backend', 'server'], registers: [registry],
      collect() {
        this.reset();
        for (const s of view.servers()) this.set({ backend: s.backendName, server: s.name }, s.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bulwark_backend_server_active_requests', help: 'In-flight requests (or connections in tcp mode) per server',
      labelNames: ['backend', 'server'], registers: [registry],
      collect() {
        this.reset();
        for (const s of view.servers()) this.set({ backend: s.backendName, server: s.name }, s.active);
      },
    });
    new Gauge({
      name: 'bulwark_backend_queue_requests', help: 'Requests waiting for a server slot', labelNames: ['backend'], registers: [registry],
      collect() {
        this.reset();
        for (const q of view.queues()) this.set({ backend: q.backend }, q.length);
      },
    });
    new Gauge({
      name: 'bulwark_frontend_connections_active', help: 'Open client connections', labelNames: ['frontend'], registers: [registry],
      collect() {
        this.reset();
        for (const c of view.connections()) this.set({ frontend: c.frontend }, c.active);
      },
    });
  }

  request(frontend: string, backend: string, server: string, status: number, seconds: number): void {
    const cell = this.requestCell(frontend, backend, server);
    const cls = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    cell.pending[cls]!++;
    if ((cell.seen & (1 << cls)) === 0) {
      cell.seen |= 1 << cls;
      this.order.push({ cell, cls });
    }
    this.duration.observeCell(cell.duration, seconds); // throws on NaN, after counting (as before)
  }

  private requestCell(frontend: string, backend: string, server: string): RequestCell {
    let byBackend = this.requestCells.get(frontend);
    if (!byBackend) this.requestCells.set(frontend, (byBackend = new Map()));
    let byServer = byBackend.get(backend);
    if (!byServer) byBackend.set(backend, (byServer = new Map()));
    let cell = byServer.get(server);
    if (!cell) {
      let durations = this.durationCells.get(frontend);
      if (!durations) this.durationCells.set(frontend, (durations = new Map()));
      let duration = durations.get(backend);
      if (!duration) durations.set(backend, (duration = this.duration.newCell({ frontend, backend })));
      cell = { labels: { frontend, backend, server }, pending: [0, 0, 0, 0, 0], seen: 0, duration };
      byServer.set(server, cell);
    }
    return cell;
  }

  /** Add pending request counts to the counter (its collect hook: runs whenever it is read). */
  private flushRequests(): void {
    for (const { cell, cls } of this.order) {
      const n = cell.pending[cls]!;
      if (n === 0) continue;
      cell.pending[cls] = 0;
      this.requests.inc({ ...cell.labels, code: CLASSES[cls]! }, n);
    }
  }

  /** The counter was reset: what it had not seen yet is dropped with the rest. */
  private dropPendingRequests(): void {
    if (!this.order) return;
    for (const { cell } of this.order) {
      cell.pending.fill(0);
      cell.seen = 0;
    }
    this.order = [];
  }

  retry(backend: string): void {
    this.retries.inc({ backend });
  }

  ejection(backend: string, server: string): void {
    this.ejections.inc({ backend, server });
  }

  refusal(frontend: string, reason: string): void {
    this.refused.inc({ frontend, reason });
    if (reason === 'ban') this.firewallBans.inc({ frontend });
    else if (FIREWALL_REFUSALS.has(reason)) this.firewallRefused.inc({ frontend, reason });
  }

  handshake(frontend: string, protocol: string, alpn: string): void {
    this.handshakes.inc({ frontend, protocol, alpn });
  }

  handshakeFailed(frontend: string, reason: string): void {
    this.handshakeFailures.inc({ frontend, reason });
  }

  transition(backend: string, server: string, up: boolean): void {
    this.transitions.inc({ backend, server, to: up ? 'up' : 'down' });
  }
}
