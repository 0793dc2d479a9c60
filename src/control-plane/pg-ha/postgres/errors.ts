/**
 * Errors from the PostgreSQL control layer. Each carries a stable code so the HA loop can tell
 * "not running" from "start failed" without parsing messages, and a message that names what is
 * wrong and (where there is one) the fix.
 */
export const PgErrorCodes = {
  PG_BINARIES_NOT_FOUND: 'The PostgreSQL binaries (initdb, postgres) were not found or do not run.',
  PG_BINARIES_UNREACHABLE: 'The service user cannot reach the binaries (a parent directory is not traversable).',
  PG_SERVICE_USER: 'The service user could not be found or created.',
  PG_DIR_UNREACHABLE: 'The service user cannot reach a data, socket or member directory.',
  PG_INITDB_FAILED: 'initdb failed.',
  PG_ALREADY_RUNNING: 'A postmaster is already running on this data directory (not a child of this agent).',
  PG_NOT_RUNNING: 'The operation needs a running server.',
  PG_START_FAILED: 'The server exited before accepting connections.',
  PG_START_TIMEOUT: 'The server did not accept connections in time.',
  PG_STOP_TIMEOUT: 'The server did not exit in time.',
  PG_PROMOTE_FAILED: 'Promotion failed or did not make the server writable in time.',
  PG_NOT_EMPTY: 'The target data directory is not empty.',
  PG_CLONE_FAILED: 'The base backup (clone) failed.',
  PG_REWIND_FAILED: 'pg_rewind failed.',
  PG_REWIND_UNAVAILABLE: 'pg_rewind is not available with these binaries: re-clone instead.',
  PG_TLS_MISSING: 'The member has no TLS credentials, and connections between members need them.',
  PG_UNSUPPORTED: 'The server version or setup is not supported for this operation.',
  PG_TIMEOUT: 'A wait on the server timed out.',
} as const;

export type PgErrorCode = keyof typeof PgErrorCodes;

export class PgControlError extends Error {
  readonly code: PgErrorCode;
  /** Extra lines for humans (e.g. the last lines of the server log). */
  readonly details: readonly string[];
  constructor(code: PgErrorCode, message: string, details: readonly string[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PgControlError';
    this.code = code;
    this.details = details;
  }
  describe(): string {
    return [`${this.message} [${this.code}]`, ...this.details.map((d) => `  ${d}`)].join('\n');
  }
}

export function isPgControlError(err: unknown, code?: PgErrorCode): err is PgControlError {
  return err instanceof PgControlError && (code === undefined || err.code === code);
}
