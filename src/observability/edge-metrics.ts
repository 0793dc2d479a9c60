/**
 * Edge metrics. Labelled children are cached per object so the per-request cost is an array
 * index and an increment, not a label-set lookup.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

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
}

export class EdgeMetrics {
  private readonly requests: Counter<'frontend' | 'backend' | 'server' | 'code'>;
  private readonly duration: Histogram<'frontend' | 'backend'>;
  private readonly retries: Counter<'backend'>;
  private readonly ejections: Counter<'backend' | 'server'>;
  private readonly refused: Counter<'frontend' | 'reason'>;
  private readonly transitions: Counter<'backend' | 'server' | 'to'>;
  private readonly requestCache = new Map<string, Counter.Internal[]>();
  private readonly durationCache = new Map<string, Histogram.Internal<'frontend' | 'backend'>>();

  constructor(registry: Registry, view: EdgeView) {
    this.requests = new Counter({
      name: 'bulwark_http_requests_total', help: 'HTTP requests answered, by frontend, backend, server and status class',
      labelNames: ['frontend', 'backend', 'server', 'code'], registers: [registry],
    });
    this.duration = new Histogram({
      name: 'bulwark_http_request_duration_seconds', help: 'Time from request head received to response complete',
      labelNames: ['frontend', 'backend'], registers: [registry],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.retries = new Counter({
      name: 'bulwark_backend_retries_total', help: 'Requests retried on another server', labelNames: ['backend'], registers: [registry],
    });
    this.ejections = new Counter({
      name: 'bulwark_backend_ejections_total', help: 'Servers ejected by passive health', labelNames: ['backend', 'server'], registers: [registry],
    });
    this.refused = new Counter({
      name: 'bulwark_edge_refused_total', help: 'Requests or connections refused by the edge itself, by reason',
      labelNames: ['frontend', 'reason'], registers: [registry],
    });
    this.transitions = new Counter({
      name: 'bulwark_backend_server_transitions_total', help: 'Server health transitions', labelNames: ['backend', 'server', 'to'], registers: [registry],
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
    const key = frontend + '\0' + backend + '\0' + server;
    let children = this.requestCache.get(key);
    if (!children) {
      children = CLASSES.map((code) => this.requests.labels({ frontend, backend, server, code }));
      this.requestCache.set(key, children);
    }
    const cls = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    children[cls]!.inc();
    const dkey = frontend + '\0' + backend;
    let h = this.durationCache.get(dkey);
    if (!h) {
      h = this.duration.labels({ frontend, backend });
      this.durationCache.set(dkey, h);
    }
    h.observe(seconds);
  }

  retry(backend: string): void {
    this.retries.inc({ backend });
  }

  ejection(backend: string, server: string): void {
    this.ejections.inc({ backend, server });
  }

  refusal(frontend: string, reason: string): void {
    this.refused.inc({ frontend, reason });
  }

  transition(backend: string, server: string, up: boolean): void {
    this.transitions.inc({ backend, server, to: up ? 'up' : 'down' });
  }
}
