/**
 * What a web node's app is told about the database: DATABASE_URL (the local db router's
 * read-write port) and DATABASE_READ_URL (its read-only port), both TLS-only.
 *
 * The router passes TCP through to a member, so the certificate the app sees is that member's
 * (its own address and name), never the router's address the app dialled: a host-name check
 * (verify-full) cannot pass. The URLs say `sslmode=verify-ca` with `sslrootcert` = the cluster CA
 * (written next to the node's files, readable by the app): the chain must lead to the cluster CA,
 * the name is not compared. docs/database.md ("TLS") weighs this against the alternatives.
 */
import path from 'node:path';
import { writeFileAtomic } from '../../core/files.js';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';

/** Where the app's copy of the cluster CA goes (public: a CA certificate is no secret). */
export function writeDatabaseCa(nodeDir: string, caPem: string): string {
  const file = path.join(nodeDir, 'database-ca.crt');
  writeFileAtomic(file, caPem, { mode: 0o644 });
  return file;
}

export function databaseEnv(spec: ClusterSpec, node: Pick<NodeSpec, 'address'>, password: string, caFile: string): Record<string, string> {
  const db = spec.database!;
  const host = node.address.includes(':') ? `[${node.address}]` : node.address;
  const tls = `sslmode=verify-ca&sslrootcert=${encodeURIComponent(caFile)}`;
  const url = (port: number): string => `postgres://${encodeURIComponent(db.user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(db.name)}?${tls}`;
  return { DATABASE_URL: url(db.router.rwPort), DATABASE_READ_URL: url(db.router.roPort) };
}
