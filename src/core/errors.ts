/**
 * Coded errors. Every error a user can meet at start-up or from the CLI carries a stable code
 * (documented in docs/errors.md; a test keeps the two in step) and a message that names what is
 * wrong. Operational failures on the data path are not thrown: they become statuses and metrics.
 */
export const ErrorCodes = {
  BWK_CONFIG_NOT_FOUND: 'The cluster file does not exist or cannot be read.',
  BWK_CONFIG_SYNTAX: 'The cluster file is not valid YAML.',
  BWK_CONFIG_INVALID: 'The cluster file has keys or values that are not allowed.',
  BWK_USAGE: 'The command line is wrong: unknown verb, unknown flag or missing argument.',
  BWK_NODE_UNKNOWN: 'A node name was given that the cluster file does not define.',
  BWK_SERVER_UNKNOWN: 'A server name was given that no backend defines.',
  BWK_NOT_RUNNING: 'The command needs a running local cluster (`bulwark up`) and there is none.',
  BWK_ALREADY_RUNNING: 'A local cluster from this state folder is already running.',
  BWK_LISTEN_FAILED: 'A listener could not bind its address (in use, or address not available).',
  BWK_TLS_FILES: 'A certificate or key file of edge.tls (source: files) is missing, unreadable, or not a matching PEM pair.',
  BWK_TLS_ACME: 'A file edge.tls.acme names (ca_file, account_key) is missing or unreadable.',
  BWK_RELOAD_FAILED: 'A reload could not be applied; the previous configuration keeps running.',
  BWK_CREDENTIALS_MISSING: 'This machine has no certificate from the cluster CA for the agent APIs (node or admin) and no CA key to issue one.',
  BWK_FIREWALL_APPLY: 'The host firewall (firewall.host: enforce) could not be applied: nft refused the ruleset, is missing, or this agent is not root.',
  BWK_FIREWALL_ONE_HOST: 'Every node of the cluster is on a loopback address of this machine: one host firewall cannot separate them.',
  BWK_TLS_LOCAL: 'An lb with edge.tls source: local has no good edge certificate from the cluster CA and no CA key to issue one.',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly string[];
  constructor(code: ErrorCode, message: string, details: readonly string[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BulwarkError';
    this.code = code;
    this.details = details;
  }
  /** Human form: the message, then one indented line per detail. */
  describe(): string {
    return [`${this.message} [${this.code}]`, ...this.details.map((d) => `  ${d}`)].join('\n');
  }
}

export function isBulwarkError(err: unknown): err is BulwarkError {
  return err instanceof BulwarkError;
}
