/**
 * Probes: one health check's worth of real I/O. A probe never throws or rejects; every failure,
 * including a programming error such as a bad port, comes back as a result so the checker's loop
 * cannot die on it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';

export interface ProbeResult {
  readonly ok: boolean;
  /** Human and short: `HTTP 200`, `HTTP 503`, `connect ECONNREFUSED`, `timeout after 500ms`. */
  readonly detail: string;
  readonly durationMs: number;
  /**
   * The server answered (an HTTP status, a TCP connection); absent after a timeout, a refusal or
   * an error, when it may be gone or cut off.
   */
  readonly answered?: true;
}

export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

export interface HttpProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Defaults to host:port (IPv6 bracketed). */
  readonly hostHeader?: string;
  /** Hard bound on connect + response head. */
  readonly timeoutMs: number;
  /** Accepted statuses; empty accepts any 2xx or 3xx. */
  readonly expectStatus: readonly number[];
  /** Only for the deadline timer and durations; tests of real I/O use the default. */
  readonly clock?: Clock;
  /** Check over HTTPS, trusting `ca` and presenting `cert`/`key` (mutual TLS, e.g. an agent API). */
  readonly tls?: ProbeTls;
}

/** PEM texts for an HTTPS check. */
export interface ProbePem {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * The TLS side of HTTPS checks: the PEMs parsed once into a context (not on every check), which a
 * renewed certificate replaces for every check that holds this object.
 */
export class ProbeTls {
  private ctx!: tls.SecureContext;

  constructor(pem: ProbePem) {
    this.update(pem);
  }

  get context(): tls.SecureContext {
    return this.ctx;
  }

  update(pem: ProbePem): void {
    this.ctx = tls.createSecureContext({ ca: pem.ca, cert: pem.cert, key: pem.key });
  }
}

export interface TcpProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly clock?: Clock;
}

/** Node wants IPv6 literals bare; config may carry them bracketed as in a URL. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function defaultHostHeader(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function errorText(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  }
  return String(err);
}

export function statusAccepted(status: number, expect: readonly number[]): boolean {
  return expect.length === 0 ? status >= 200 && status < 400 : expect.includes(status);
}

/**
 * Shared settle-once plumbing: the deadline, the caller's abort signal and the I/O callbacks all
 * race to finish the probe, and only the first may decide the result.
 */
class Attempt {
  private done = false;
  private timer: TimerHandle | undefined;
  private readonly started: number;
  private readonly onAbort = (): void => this.finish(false, 'aborted');
  readonly promise: Promise<ProbeResult>;
  private resolve!: (r: ProbeResult) => void;
  /** Runs whenever the attempt ends, and again (harmlessly) on late cleanup. */
  cleanup: () => void = () => {};

  constructor(
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
    timeoutMs: number,
  ) {
    this.started = clock.now();
    this.promise = new Promise((resolve) => (this.resolve = resolve));
    if (signal.aborted) {
      this.finish(false, 'aborted');
      return;
    }
    signal.addEventListener('abort', this.onAbort, { once: true });
    this.timer = clock.setTimeout(() => this.finish(false, `timeout after ${timeoutMs}ms`), timeoutMs);
  }

  get finished(): boolean {
    return this.done;
  }

  finish(ok: boolean, detail: string, answered = false): void {
    if (this.done) return;
    this.done = true;
    this.release();
    this.cleanup();
    // Date.now can step backwards under NTP; a negative duration would only confuse a graph.
    this.resolve({ ok, detail, durationMs: Math.max(0, this.clock.now() - this.started), ...(answered && { answered: true as const }) });
  }

  /** Drops the deadline and the abort listener without deciding anything. */
  release(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

export function httpProbe(opts: HttpProbeOptions): Probe {
  const host = bareHost(opts.host);
  const hostHeader = opts.hostHeader ?? defaultHostHeader(host, opts.port);
  const clock = opts.clock ?? systemClock;
  const expect = [...opts.expectStatus];

  return (signal) => {
    const attempt = new Attempt(clock, signal, opts.timeoutMs);
    if (attempt.finished) return attempt.promise;
    let req: http.ClientRequest | undefined;
    let connected = false;
    attempt.cleanup = () => req?.destroy();
    try {
      const request = opts.tls ? https.request : http.request;
      req = request({
        ...(opts.tls && { secureContext: opts.tls.context }),
        host,
        port: opts.port,
        path: opts.path,
        method: 'GET',
        // A pooled socket could hide a server that no longer accepts connections.
        agent: false,
        headers: { host: hostHeader, 'user-agent': 'bulwark-health-check', connection: 'close' },
      });
      req.on('socket', (socket) => {
        socket.once(opts.tls ? 'secureConnect' : 'connect', () => (connected = true));
      });
      req.on('error', (err) => attempt.finish(false, `${connected ? 'response' : 'connect'} ${errorText(err)}`));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = statusAccepted(status, expect);
        // The verdict is in; from here the socket only needs to go away. Draining lets a
        // well-behaved server finish cleanly instead of seeing a reset, while the deadline timer
        // is replaced by destroy-on-end so an endless body cannot hold the socket.
        attempt.cleanup = () => {};
        attempt.finish(ok, `HTTP ${status}`, true);
        const r = req!;
        const kill = clock.setTimeout(() => r.destroy(), opts.timeoutMs);
        const done = (): void => {
          clock.clearTimeout(kill);
          r.destroy();
        };
        res.once('end', done);
        res.once('error', done);
        res.once('close', done);
        res.resume();
      });
      req.end();
    } catch (err) {
      attempt.finish(false, `error ${errorText(err)}`);
    }
    return attempt.promise;
  };
}

export function tcpProbe(opts: TcpProbeOptions): Probe {
  const host = bareHost(opts.host);
  const clock = opts.clock ?? systemClock;

  return (signal) => {
    const attempt = new Attempt(clock, signal, opts.timeoutMs);
    if (attempt.finished) return attempt.promise;
    let socket: net.Socket | undefined;
    attempt.cleanup = () => socket?.destroy();
    try {
      socket = net.connect({ host, port: opts.port });
      socket.once('connect', () => attempt.finish(true, 'connected', true));
      socket.on('error', (err) => attempt.finish(false, `connect ${errorText(err)}`));
    } catch (err) {
      attempt.finish(false, `error ${errorText(err)}`);
    }
    return attempt.promise;
  };
}
