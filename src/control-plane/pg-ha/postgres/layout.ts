/**
 * Where one member keeps its things. One folder per member; only `data/`, `run/` and `tls/`
 * belong to the service user, the rest to the agent:
 *
 *   <root>/               agent, 0711 (the service user must traverse it, not list it)
 *     data/               PGDATA, service user, 0700
 *     run/                unix socket directory, service user, 0700 (never the compiled-in /tmp)
 *     tls/                the member's certificate, key and the cluster CA, service user, 0700
 *                         (outside data/: a clone or rewind copies data/ from another member)
 *     log/postgresql.log  server stdout/stderr, agent, 0700 dir
 *     secrets/            generated passwords, agent, 0700 dir, 0600 files
 *     pgpass              replication/rewind passfile, service user, 0600 (the walreceiver reads it)
 */
import fs from 'node:fs';
import path from 'node:path';
import { assertTraversable, prepareDir, type ServiceUser } from './os-user.js';

export interface MemberPaths {
  readonly root: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly tlsDir: string;
  readonly logFile: string;
  readonly secretsDir: string;
  readonly passfile: string;
}

export function memberPaths(root: string): MemberPaths {
  const r = path.resolve(root);
  return {
    root: r,
    dataDir: path.join(r, 'data'),
    socketDir: path.join(r, 'run'),
    tlsDir: path.join(r, 'tls'),
    logFile: path.join(r, 'log', 'postgresql.log'),
    secretsDir: path.join(r, 'secrets'),
    passfile: path.join(r, 'pgpass'),
  };
}

/** Create the member folders with the owners and modes above (idempotent). */
export function prepareMemberDirs(p: MemberPaths, serviceUser: ServiceUser): void {
  fs.mkdirSync(p.root, { recursive: true });
  fs.chmodSync(p.root, 0o711);
  assertTraversable(p.root, serviceUser, 'member directory', { includeSelf: true });
  prepareDir(p.dataDir, serviceUser, 0o700);
  prepareDir(p.socketDir, serviceUser, 0o700);
  prepareDir(p.tlsDir, serviceUser, 0o700);
  fs.mkdirSync(path.dirname(p.logFile), { recursive: true, mode: 0o700 });
  fs.mkdirSync(p.secretsDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(p.secretsDir, 0o700);
}
