/**
 * A backend server at run time: its health (active check + passive ejection), its drain flag,
 * its in-flight count and its pool of idle keep-alive connections. Objects of this class outlive
 * config reloads (matched by backend and address), so health and counters are never reset.
 */
import net from 'node:net';
import type { ServerSpec } from '../../config/types.js';
import type { Pickable } from '../balancer/index.js';
import type { PassiveHealth } from '../health/index.js';
import { coarseNow } from '../../core/coarse-tick.js';

/** Who is using an upstream connection right now: an L7 exchange. */
export interface UpstreamOwner {
  /**
   * Bytes read from the server. `data` is a view of the connection's read buffer, valid only
   * during this call: the next read overwrites it. An owner that keeps a reference (a pending
   * write of it, a partial head) calls conn.keep(), and the next read goes to a fresh buffer.
   */
  onUpstreamData(conn: UpstreamConn, data: Buffer): void;
  onUpstreamEnd(conn: UpstreamConn, err: Error | undefined): void;
  onUpstreamDrain(conn: UpstreamConn): void;
}

/** Read buffer of an upstream connection (node's default read size). */
const READ_BUFFER = 64 * 1024;

export class UpstreamConn {
  owner: UpstreamOwner | undefined;
  /** Exchanges completed on this connection (0 while fresh). */
  uses = 0;
  idleSince = 0;
  connected = false;
  closed = false;
  lastError: Error | undefined;
  readonly socket: net.Socket;
  private readBuf = Buffer.allocUnsafe(READ_BUFFER);
  private kept = false;

  constructor(readonly server: UpstreamServer, host: string, port: number) {
    // `onread`: node reads into our buffer and calls back, instead of allocating a buffer per
    // read and pushing it through the stream machinery to a 'data' event.
    const socket = net.connect({
      host, port, noDelay: true,
      onread: { buffer: () => this.nextReadBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
    });
    this.socket = socket;
    socket.once('connect', () => {
      this.connected = true;
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
    // 'close' always follows 'error'; the owner hears about both there, with the cause.
    socket.on('error', (err) => {
      this.lastError = err;
    });
    socket.on('close', () => {
      this.closed = true;
      this.server.forget(this);
      const owner = this.owner;
      this.owner = undefined;
      owner?.onUpstreamEnd(this, this.lastError ?? new Error(this.connected ? 'server closed the connection' : 'connection failed'));
    });
  }

  /** The owner keeps (a view of) the bytes it was just given: read the next ones elsewhere. */
  keep(): void {
    this.kept = true;
  }

  private nextReadBuffer(): Buffer {
    if (this.kept) {
      this.kept = false;
      this.readBuf = Buffer.allocUnsafe(READ_BUFFER);
    }
    return this.readBuf;
  }

  /** Returns true: keep reading (flow control is the owner's socket.pause()/resume()). */
  private onRead(n: number, buf: Buffer): boolean {
    if (this.owner) this.owner.onUpstreamData(this, buf.subarray(0, n));
    else this.socket.destroy(); // bytes on an idle connection: the exchange was not what we thought
    return true;
  }
}

export class UpstreamServer implements Pickable {
  readonly key: string;
  name!: string;
  weight!: number;
  backup!: boolean;
  maxconn!: number;
  poolSize!: number;
  keepAliveMs!: number;
  /** In-flight requests (http) or connections (tcp). */
  active = 0;
  draining = false;
  /** Set by the active health check; 'unknown' until the first probe answers. */
  checkState: 'unknown' | 'up' | 'down' = 'unknown';
  lastCheckDetail = '';
  /** The last check got an answer (any HTTP status): see ProbeResult.answered. */
  lastCheckAnswered = false;
  lastChangeAt = 0;
  /** Requests served, for status. */
  total = 0;
  private readonly idle: UpstreamConn[] = [];
  private readonly all = new Set<UpstreamConn>();

  constructor(
    readonly backendName: string,
    readonly host: string,
    readonly port: number,
    spec: ServerSpec,
    readonly passive: PassiveHealth,
    poolSize: number,
    keepAliveMs: number,
  ) {
    // Name and address: the same address may appear twice in a backend with different checks
    // (the db router's replicas backend lists each member as a replica and as a backup primary).
    this.key = `${spec.name}@${host}:${port}`;
    this.update(spec, poolSize, keepAliveMs);
  }

  /** Settings that a reload may change; health, counters and pooled connections stay. */
  update(spec: ServerSpec, poolSize: number, keepAliveMs: number): void {
    this.name = spec.name;
    this.weight = spec.weight;
    this.backup = spec.backup;
    this.maxconn = spec.maxconn;
    this.poolSize = poolSize;
    this.keepAliveMs = keepAliveMs;
  }

  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** Could take traffic, capacity aside: not drained, not checked down, not ejected. */
  alive(): boolean {
    return !this.draining && this.checkState !== 'down' && !this.passive.isEjected();
  }

  hasSlot(): boolean {
    return this.maxconn === 0 || this.active < this.maxconn;
  }

  /** `up` as status reports it: health says so (drain is reported separately). */
  get up(): boolean {
    return this.checkState !== 'down' && !this.passive.isEjected();
  }

  /** An idle pooled connection, most recently used first (warmest, least likely to be closed). */
  takeIdle(): UpstreamConn | undefined {
    const now = coarseNow();
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.closed && now - conn.idleSince < this.keepAliveMs) return conn;
      conn.socket.destroy();
    }
    return undefined;
  }

  connect(): UpstreamConn {
    const conn = new UpstreamConn(this, this.host, this.port);
    this.all.add(conn);
    return conn;
  }

  /** Return a connection after a complete exchange; it is pooled when there is room. */
  release(conn: UpstreamConn): void {
    conn.owner = undefined;
    conn.uses++;
    if (conn.closed) return;
    if (this.draining || this.idle.length >= this.poolSize) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = coarseNow();
    this.idle.push(conn);
  }

  /** tcp mode: client connections currently piped to this server. */
  readonly sessions = new Set<net.Socket>();

  /** Cut every tcp session to this server (on-marked-down shutdown). */
  shutdownSessions(): number {
    const n = this.sessions.size;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    return n;
  }

  forget(conn: UpstreamConn): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Close idle connections past their keep-alive (called from the shared tick). */
  reapIdle(now: number): void {
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince >= this.keepAliveMs) {
      this.idle.shift()!.socket.destroy();
    }
  }

  closeIdle(): void {
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  idleCount(): number {
    return this.idle.length;
  }

  openCount(): number {
    return this.all.size;
  }
}
