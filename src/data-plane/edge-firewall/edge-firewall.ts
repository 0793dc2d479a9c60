/**
 * One frontend's edge firewall: address lists compiled once (node's BlockList: a subnet match
 * per check, no per-request parsing), a token bucket and a connection count per client address,
 * and fail2ban-style temporary bans for addresses that keep getting refused. Callers pass the
 * time (the coarse tick on the hot path, a number in tests). State lives across reloads:
 * `reconfigure` swaps the rules and keeps the buckets, counts and bans.
 */
import type { BlockList } from 'node:net';
import { compileCidrs, inCidrs } from '../../core/cidr.js';
import type { EdgeFirewallSpec } from '../../config/types.js';

/**
 * The refusal reasons that are the edge firewall's verdicts (lists, bans, rates, connection caps,
 * the trusted-proxy check); the edge's other refusals (bad-request, no-server, queue-full …) are
 * about the request or the backends.
 */
export const FIREWALL_REASONS = ['denied', 'not-allowed', 'banned', 'rate-limited', 'too-many-connections', 'untrusted-proxy'] as const;
export type FirewallReason = (typeof FIREWALL_REASONS)[number];

export interface Verdict {
  readonly status: 403 | 429;
  /** For metrics and logs. */
  readonly reason: FirewallReason;
  readonly message: string;
  /** 429: when the client may try again. */
  readonly retryAfterS?: number;
}

interface Client {
  /** The lists' verdict on this address, as of rules generation `gen` (0: none; else a reason). */
  listed: string | undefined;
  gen: number;
  tokens: number;
  last: number;
  connections: number;
  refusals: number[];
  bannedUntil: number;
}

const banned = (ip: string, until: number, now: number): Verdict =>
  ({ status: 403, reason: 'banned', message: `${ip} is banned for breaking limits, for ${Math.ceil((until - now) / 1000)}s more` });

/** Statuses that mean "this client broke a limit": they count towards a ban. */
const ABUSE = new Set([400, 408, 413, 414, 429, 431]);

export class EdgeFirewall {
  private spec!: EdgeFirewallSpec;
  private allow: BlockList | undefined;
  private deny: BlockList | undefined;
  private trusted: BlockList | undefined;
  /** Bumped by reconfigure: list verdicts cached on clients are recomputed after a change. */
  private gen = 0;
  /**
   * Bumped whenever a client gets banned. A keep-alive connection admitted at epoch E checks its
   * client's ban only when this is no longer E: one integer compare per request, and a ban still
   * reaches connections that opened before it. (Lists changed by a reload apply to new
   * connections, as documented; HTTP/2 screens every stream in full anyway.)
   */
  private standing = 0;
  private readonly clients = new Map<string, Client>();
  /** Told of every new ban (tcp frontends cut the client's open sessions, which have no next request). */
  private readonly banListeners = new Set<(client: string) => void>();

  constructor(spec: EdgeFirewallSpec) {
    this.reconfigure(spec);
  }

  reconfigure(spec: EdgeFirewallSpec): void {
    this.spec = spec;
    this.gen++;
    this.allow = compileCidrs(spec.allow);
    this.deny = compileCidrs(spec.deny);
    this.trusted = compileCidrs(spec.trustedProxies);
  }

  /**
   * A connection from `peer` arrives. A trusted proxy is judged per request instead. `trusted`:
   * isTrusted(peer) when the caller already knows it (a subnet match is not free).
   */
  onAccept(peer: string, now: number, trusted = this.isTrusted(peer)): Verdict | undefined {
    if (trusted) return undefined;
    const v = this.screen(peer, now);
    if (v) return v;
    const max = this.spec.maxConnectionsPerClient;
    const c = this.client(peer, now);
    if (max !== undefined && c.connections >= max) {
      return { status: 429, reason: 'too-many-connections', message: `more than ${max} open connections from ${peer}` };
    }
    c.connections++;
    return undefined;
  }

  /** The current standing epoch (see `standing`): read at accept, compared on every request. */
  get epoch(): number {
    return this.standing;
  }

  /** A connection admitted at an earlier epoch: has its client been banned since? */
  banCheck(peer: string, now: number): Verdict | undefined {
    const c = this.clients.get(peer);
    return c && c.bannedUntil > now ? banned(peer, c.bannedUntil, now) : undefined;
  }

  /** The connection onAccept admitted has closed. */
  onClose(peer: string): void {
    const c = this.clients.get(peer);
    if (c && c.connections > 0) c.connections--;
  }

  /** May this peer state a client's address (X-Forwarded-For, PROXY protocol)? */
  isTrusted(peer: string): boolean {
    return inCidrs(this.trusted, peer);
  }

  /** The client a request is from: the peer, or for a trusted proxy the address it names. */
  clientOf(peer: string, xForwardedFor: string | undefined): string {
    if (xForwardedFor === undefined || !inCidrs(this.trusted, peer)) return peer;
    // Rightmost address that is not one of our proxies: the one the first trusted proxy saw.
    const hops = xForwardedFor.split(',').map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!inCidrs(this.trusted, hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  }

  /** A request (http) or connection (tcp) from `client`: lists and bans (behind a proxy), then the rate. */
  onRequest(client: string, viaProxy: boolean, now: number): Verdict | undefined {
    if (viaProxy) {
      const v = this.screen(client, now);
      if (v) return v;
    }
    const rl = this.spec.rateLimit;
    if (!rl) return undefined;
    const c = this.client(client, now);
    c.tokens = Math.min(rl.burst, c.tokens + ((now - c.last) / 1000) * rl.perSecond);
    c.last = now;
    if (c.tokens >= 1) {
      c.tokens -= 1;
      return undefined;
    }
    const retryAfterS = Math.max(1, Math.ceil((1 - c.tokens) / rl.perSecond));
    return { status: 429, reason: 'rate-limited', message: `more than ${rl.perSecond}/s (burst ${rl.burst}) from ${client}`, retryAfterS };
  }

  /** The edge refused `client` with `status`: limit breaches count towards a ban. Returns true when it got banned now. */
  onRefused(client: string, status: number, now: number): boolean {
    const ban = this.spec.ban;
    if (!ban || !ABUSE.has(status) || inCidrs(this.trusted, client)) return false;
    const c = this.client(client, now);
    if (c.bannedUntil > now) return false;
    c.refusals = c.refusals.filter((t) => t > now - ban.withinMs);
    c.refusals.push(now);
    if (c.refusals.length < ban.after) return false;
    c.bannedUntil = now + ban.forMs;
    c.refusals = [];
    this.standing++;
    for (const listener of this.banListeners) listener(client);
    return true;
  }

  /** Call `listener` with the client of every ban made from now on (not for lifts); returns the unsubscribe. */
  onBan(listener: (client: string) => void): () => void {
    this.banListeners.add(listener);
    return () => this.banListeners.delete(listener);
  }

  bans(now: number): { client: string; untilMs: number }[] {
    return [...this.clients.entries()].filter(([, c]) => c.bannedUntil > now).map(([client, c]) => ({ client, untilMs: c.bannedUntil }));
  }

  /** Lift a ban; false when the address was not banned. */
  lift(client: string, now: number): boolean {
    const c = this.clients.get(client);
    if (!c || c.bannedUntil <= now) return false;
    c.bannedUntil = 0;
    return true;
  }

  /** Forget clients with nothing to remember (full bucket, no connection, no ban, no recent refusal). */
  prune(now: number): void {
    const rl = this.spec.rateLimit;
    const window = this.spec.ban?.withinMs ?? 0;
    for (const [ip, c] of this.clients) {
      const full = !rl || c.tokens + ((now - c.last) / 1000) * rl.perSecond >= rl.burst;
      if (full && c.connections === 0 && c.bannedUntil <= now && !c.refusals.some((t) => t > now - window)) this.clients.delete(ip);
    }
  }

  /** Clients tracked right now (bounded by prune). */
  size(): number {
    return this.clients.size;
  }

  private screen(ip: string, now: number): Verdict | undefined {
    // The lists' answer for an address is cached on its client record: a subnet match costs a
    // SocketAddress allocation, a Map lookup does not (a client reconnects many times).
    const c = this.client(ip, now);
    if (c.gen !== this.gen) {
      c.gen = this.gen;
      c.listed = inCidrs(this.deny, ip) ? 'denied' : this.allow && !inCidrs(this.allow, ip) ? 'not-allowed' : undefined;
    }
    if (c.listed === 'denied') return { status: 403, reason: 'denied', message: `${ip} is on the deny list` };
    if (c.listed === 'not-allowed') return { status: 403, reason: 'not-allowed', message: `${ip} is not on the allow list` };
    if (c.bannedUntil > now) return banned(ip, c.bannedUntil, now);
    return undefined;
  }

  private client(ip: string, now: number): Client {
    let c = this.clients.get(ip);
    if (!c) {
      c = { listed: undefined, gen: 0, tokens: this.spec.rateLimit?.burst ?? 0, last: now, connections: 0, refusals: [], bannedUntil: 0 };
      this.clients.set(ip, c);
    }
    return c;
  }
}
