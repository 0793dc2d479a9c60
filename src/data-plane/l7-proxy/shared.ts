/**
 * What every connection of one HTTP listener shares: the current frontend (swapped atomically
 * by a reload, so keep-alive connections pick up the new config at their next request), metrics,
 * the access log and request ids.
 */
import type { EdgeFirewall } from '../edge-firewall/index.js';
import type { ChallengeResponder } from '../tls/index.js';
import type { FrontendSpec } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { AccessLog } from '../../observability/access-log.js';
import type { EdgeMetrics } from '../../observability/edge-metrics.js';
import type { BackendRuntime } from '../edge/backend.js';
import type { Router } from '../edge/router.js';
import type { UpstreamServer } from '../edge/upstream.js';

export interface HttpFrontendRuntime {
  readonly name: string;
  readonly spec: FrontendSpec;
  readonly router: Router<BackendRuntime>;
  readonly proto: 'http' | 'https';
  /** Header lines added to every response (HSTS on HTTPS), each ending in CRLF; '' for none. */
  readonly responseHeaders: string;
  /** The same as [name, value] pairs, for HTTP/2 responses. */
  readonly responseHeaderList: readonly (readonly [string, string])[];
  /** Plain HTTP beside an HTTPS port: answer 308 to https on this port (ACME challenges excepted). */
  readonly httpsRedirectPort?: number;
  /** Plain HTTP: ACME HTTP-01 tokens answered by the edge itself (others go to the routes). */
  readonly challenges?: ChallengeResponder;
  /** The frontend's edge firewall (state shared by its listeners, kept across reloads). */
  readonly firewall?: EdgeFirewall;
}

export interface HttpProxyShared {
  current(): HttpFrontendRuntime;
  readonly metrics: EdgeMetrics;
  readonly accessLog: AccessLog | undefined;
  readonly log: Logger;
  /** True while the listener is shutting down: responses carry Connection: close. */
  readonly closing: boolean;
  nextRequestId(): string;
  /** A client connection (HTTP/1 or HTTP/2) has closed. */
  forget(conn: ClientConnection): void;
  onEjected(server: UpstreamServer, reason: string): void;
  /** Warn at most a few times per second per reason, so an attack cannot flood the log. */
  sampledWarn(reason: string, fields: Record<string, unknown>, msg: string): void;
}

/** What the listener keeps per client connection, whatever its protocol. */
export interface ClientConnection {
  /** Coarse-clock time at which expire() is due; 0 for none. */
  readonly deadline: number;
  expire(now: number): void;
  /** Graceful: finish what is in flight, take nothing new, then close. */
  shutdown(): void;
  destroy(): void;
  /**
   * The edge firewall just banned `ip`: a connection that is this client's own (not a trusted
   * proxy's) stops carrying it at once where that loses no answer; true when it did.
   */
  cutIfBanned(ip: string): boolean;
}
