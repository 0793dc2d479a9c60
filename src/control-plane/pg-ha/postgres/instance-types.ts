/** The vocabulary of PostgresInstance (instance.ts): its options, results and events. */
import type { Clock } from '../../../core/clock.js';
import type { Logger } from '../../../core/log.js';
import type { PostgresBinaries } from './binaries.js';
import type { HbaRule, Settings } from './conf.js';
import type { ServiceUser } from './os-user.js';
import type { MemberTls } from './tls.js';

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PostgresInstanceOptions {
  /** Member name: cluster_name, application_name of its walreceiver, log context. */
  readonly name: string;
  readonly binaries: PostgresBinaries;
  readonly dataDir: string;
  /** Per-member unix socket directory (owned by the service user). */
  readonly socketDir: string;
  /** Server stdout/stderr are appended here; without it they go to the logger line by line. */
  readonly logFile?: string;
  /** The member's address: listen_addresses. */
  readonly listenAddress: string;
  readonly port: number;
  readonly user: ServiceUser;
  /** Database superuser name (default `postgres`). */
  readonly superuser?: string;
  /** Extra settings for postgresql.bulwark.conf (override the member defaults). */
  readonly settings?: Settings;
  /** pg_hba rules; writeHba() without arguments writes these. */
  readonly hba?: readonly HbaRule[];
  /**
   * The member's certificate, key and the cluster CA: the server runs with ssl = on, and the
   * connections this member opens to others (replication, clone, rewind) verify and present them.
   */
  readonly tls?: MemberTls;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface InitdbOptions {
  /** A file holding the superuser's password (first line). Without it the superuser has none. */
  readonly superuserPasswordFile?: string;
  /** initdb --no-sync (tests). */
  readonly noSync?: boolean;
  readonly timeoutMs?: number;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Clock time. */
  readonly at: number;
  /** True when stop()/kill() asked for it. */
  readonly requested: boolean;
}

export interface StopOptions {
  /** Wait this long for the exit before escalating (default 60 s). */
  readonly timeoutMs?: number;
  /** After the timeout: immediate, then SIGKILL (default true). Without: reject PG_STOP_TIMEOUT. */
  readonly escalate?: boolean;
}

export interface StopResult extends ExitInfo {
  readonly mode: StopMode | 'kill';
  readonly durationMs: number;
  /** Escalated to immediate/SIGKILL after a timeout. */
  readonly escalated: boolean;
  /** Nothing was running. */
  readonly wasRunning: boolean;
}

export interface PromoteResult {
  readonly durationMs: number;
  /** The new timeline. */
  readonly timeline: number;
  /** It was already a primary (nothing done but the writability check). */
  readonly alreadyPrimary: boolean;
}

export type RunState =
  | { readonly state: 'stopped' }
  | { readonly state: 'running'; readonly pid: number }
  /** A postmaster not started by this agent object (e.g. survived an agent restart). */
  | { readonly state: 'orphan'; readonly pid: number };

export interface QueryOptions {
  /** Server-side statement_timeout for a dedicated connection (withClient); 0 = none. */
  readonly statementTimeoutMs?: number;
  /** Database to connect to (default `postgres`). */
  readonly database?: string;
}

export interface InstanceEvents {
  exit: [ExitInfo];
  ready: [{ pid: number; durationMs: number }];
}
