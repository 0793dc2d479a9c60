/**
 * First-time set-up of a fresh primary: the replication role, the rewind role, the application
 * role and database, and the superuser's password, all from generated secrets (secrets.ts).
 * Idempotent: roles and the database are created when missing; passwords are (re)set to the
 * stored secrets every time, as SCRAM verifiers computed here so no plaintext password is ever
 * sent in a statement.
 */
import type { PostgresInstance } from './instance.js';
import { ensureSecrets, writePassfile, type ClusterSecrets } from './secrets.js';
import { quoteIdent, quoteLiteral, scramSha256Verifier } from './sql.js';

export interface RoleNames {
  readonly replication: string;
  readonly rewind: string;
  readonly app: string;
}

export const DEFAULT_ROLES: RoleNames = { replication: 'replicator', rewind: 'rewind', app: 'app' };

export interface BootstrapOptions {
  readonly secretsDir: string;
  /** Passfile for replication and rewind connections (read by the server as the service user). */
  readonly passfile: string;
  readonly roles?: Partial<RoleNames>;
  /** Default `app`. */
  readonly appDatabase?: string;
}

export interface BootstrapResult {
  readonly secrets: ClusterSecrets;
  readonly roles: RoleNames;
  readonly appDatabase: string;
  /** What did not exist before (empty on a second run). */
  readonly created: string[];
}

/** Grants pg_rewind needs on the source (without superuser), plus CHECKPOINT (PG15+). */
const REWIND_GRANTS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
];

export async function bootstrapPrimary(instance: PostgresInstance, opts: BootstrapOptions): Promise<BootstrapResult> {
  const roles: RoleNames = { ...DEFAULT_ROLES, ...opts.roles };
  const appDatabase = opts.appDatabase ?? 'app';
  const secrets = ensureSecrets(opts.secretsDir);
  const created: string[] = [];
  if (await instance.isInRecovery()) throw new Error(`bootstrap: ${instance.name} is a replica; bootstrap runs on the primary`);

  const ensureRole = async (name: string, attrs: string, password: string): Promise<void> => {
    const rows = await instance.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    const pw = quoteLiteral(scramSha256Verifier(password));
    if (rows.length === 0) {
      await instance.query(`CREATE ROLE ${quoteIdent(name)} WITH ${attrs} PASSWORD ${pw}`);
      created.push(`role ${name}`);
    } else {
      await instance.query(`ALTER ROLE ${quoteIdent(name)} WITH ${attrs} PASSWORD ${pw}`);
    }
  };

  await instance.query(`ALTER ROLE ${quoteIdent(instance.superuser)} WITH PASSWORD ${quoteLiteral(scramSha256Verifier(secrets.superuser))}`);
  await ensureRole(roles.replication, 'LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE', secrets.replication);
  await ensureRole(roles.rewind, 'LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE', secrets.rewind);
  for (const fn of REWIND_GRANTS) await instance.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${quoteIdent(roles.rewind)}`);
  await instance.query(`GRANT pg_checkpoint TO ${quoteIdent(roles.rewind)}`);
  await ensureRole(roles.app, 'LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE', secrets.app);

  const db = await instance.query('SELECT 1 FROM pg_database WHERE datname = $1', [appDatabase]);
  if (db.length === 0) {
    await instance.query(`CREATE DATABASE ${quoteIdent(appDatabase)} OWNER ${quoteIdent(roles.app)} ENCODING 'UTF8' TEMPLATE template0`);
    created.push(`database ${appDatabase}`);
  }
  await instance.query(`REVOKE CONNECT ON DATABASE ${quoteIdent(appDatabase)} FROM PUBLIC`);
  await instance.query(`GRANT CONNECT ON DATABASE ${quoteIdent(appDatabase)} TO ${quoteIdent(roles.app)}`);

  writeMemberPassfile(instance, opts.passfile, secrets, roles);
  return { secrets, roles, appDatabase, created };
}

/**
 * The passfile every member needs (replicas too): replication and rewind credentials for any
 * host, so re-pointing at a new primary needs no new file.
 */
export function writeMemberPassfile(instance: PostgresInstance, passfile: string, secrets: ClusterSecrets, roles: RoleNames = DEFAULT_ROLES): void {
  writePassfile(
    passfile,
    [
      { user: roles.replication, password: secrets.replication },
      { user: roles.rewind, password: secrets.rewind },
      { user: instance.superuser, password: secrets.superuser },
    ],
    instance.user,
  );
}
