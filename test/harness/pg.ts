/**
 * Real PostgreSQL members for integration tests: a temp folder under /tmp that the service user
 * can traverse, members on loopback addresses (127.0.0.x) with free ports below 32768, each with
 * a certificate from a throwaway cluster CA (TLS is how members and clients connect), and a
 * cleanup that ends every postmaster this harness started — by PID, its own process group only —
 * and removes the folder, even when a test failed half-way.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Clock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/log.js';
import {
  PostgresInstance,
  isPostmasterFor,
  memberPaths,
  prepareMemberDirs,
  readPostmasterPid,
  standardHba,
  type MemberPaths,
  type PostgresBinaries,
  type ServiceUser,
} from '../../src/control-plane/pg-ha/postgres/index.js';
import { TestPki } from './agent-tls.js';

export interface PgTestMember {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly paths: MemberPaths;
  readonly instance: PostgresInstance;
  /** The cluster CA its certificate comes from (PEM): what clients verify it against. */
  readonly ca: string;
}

/** Is port free on this address right now? (bind + close) */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A free port in 20000–31999 (below the ephemeral range 32768+, FIELD-NOTES) on `host`. */
export async function freePgPort(host: string, taken: Set<number>): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (taken.has(port)) continue;
    if (await portFree(host, port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host}`);
}

export interface PgClusterOptions {
  readonly binaries: PostgresBinaries;
  readonly user: ServiceUser;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Addresses of every member (replication is allowed from these), and app clients. */
  readonly memberAddresses: readonly string[];
  readonly appClients?: readonly string[];
}

export class PgTestCluster {
  readonly base: string;
  /** The cluster CA and every member's certificate. */
  readonly pki = new TestPki('pg-test');
  readonly members = new Map<string, PgTestMember>();
  private readonly ports = new Set<number>();
  /** Every postmaster PID seen, with its data dir, for the final sweep. */
  private readonly pids = new Map<number, string>();

  constructor(private readonly opts: PgClusterOptions) {
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-pg-'));
    // mkdtemp makes it 0700: the service user must traverse it to reach the members.
    fs.chmodSync(this.base, 0o711);
  }

  async member(name: string, address: string): Promise<PgTestMember> {
    const port = await freePgPort(address, this.ports);
    const paths = memberPaths(path.join(this.base, name));
    prepareMemberDirs(paths, this.opts.user);
    const credentials = await this.pki.node(name, 'db', address);
    const instance = new PostgresInstance({
      name,
      binaries: this.opts.binaries,
      dataDir: paths.dataDir,
      socketDir: paths.socketDir,
      logFile: paths.logFile,
      listenAddress: address,
      port,
      user: this.opts.user,
      clock: this.opts.clock,
      logger: this.opts.logger,
      tls: { dir: paths.tlsDir, pem: credentials },
      hba: standardHba({
        superuser: 'postgres',
        replicationUser: 'replicator',
        rewindUser: 'rewind',
        members: this.opts.memberAddresses,
        app: { user: 'app', database: 'app', clients: this.opts.appClients ?? ['127.0.0.1'] },
      }),
    });
    instance.on('ready', ({ pid }) => this.pids.set(pid, paths.dataDir));
    const m: PgTestMember = { name, address, port, paths, instance, ca: credentials.ca };
    this.members.set(name, m);
    return m;
  }

  /** SIGKILL whatever still runs (by PID, own process groups only), then remove the folder. */
  async cleanup(): Promise<void> {
    for (const m of this.members.values()) {
      await m.instance.closeAdmin().catch(() => undefined);
      if (m.instance.isRunning) await m.instance.kill().catch(() => undefined);
      const pidFile = readPostmasterPid(m.paths.dataDir);
      if (pidFile) this.pids.set(pidFile.pid, m.paths.dataDir);
    }
    for (const [pid, dataDir] of this.pids) {
      if (!isPostmasterFor(pid, dataDir)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // Backends die with the group; give the kernel a moment before removing their files.
    const deadline = Date.now() + 5000;
    while ([...this.pids].some(([pid, d]) => isPostmasterFor(pid, d)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (process.env.KEEP_PG_TEST_DIR) {
      console.error(`keeping ${this.base} and ${this.pki.stateDir}`);
      return;
    }
    fs.rmSync(this.base, { recursive: true, force: true });
    this.pki.remove();
  }
}

/** TLS for a client of `m`: its certificate verified against the cluster CA and its address. */
export const memberTls = (m: PgTestMember): { ca: string; rejectUnauthorized: true } => ({ ca: m.ca, rejectUnauthorized: true });

/** One query as the application role over TCP (TLS), on a connection of its own. */
export async function appQuery(m: PgTestMember, password: string, sql: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ host: m.address, port: m.port, user: 'app', password, database: 'app', ssl: memberTls(m) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
