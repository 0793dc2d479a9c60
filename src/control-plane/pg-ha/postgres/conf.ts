/**
 * Files PostgreSQL reads, rendered from data (pure functions plus small file writers):
 *
 *  - `postgresql.bulwark.conf`: this member's static settings (port, listen address, socket dir,
 *    replication knobs), included at the end of postgresql.conf. We own the whole file and
 *    rewrite it after a clone or rewind, when the copied one describes the source.
 *  - `postgresql.auto.conf`: what changes at run time (primary_conninfo, primary_slot_name,
 *    synchronous_standby_names), set with ALTER SYSTEM while running and written directly here
 *    while stopped. It is read after postgresql.conf, so it must never carry per-node static
 *    settings: after a clone we replace it with only the keys we manage.
 *  - `pg_hba.conf` / `pg_ident.conf`: who may connect from where.
 *  - `postmaster.pid`: read to know whether a server runs and what it is doing.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { confValue, type ConfValue } from './sql.js';

export const BULWARK_CONF = 'postgresql.bulwark.conf';
export const AUTO_CONF = 'postgresql.auto.conf';
export const IDENT_MAP = 'bulwark';

export type Settings = Readonly<Record<string, ConfValue>>;

/** The settings every member needs, before per-call extras. */
export interface NodeIdentity {
  readonly name: string;
  readonly listenAddress: string;
  readonly port: number;
  readonly socketDir: string;
}

/**
 * Defaults for an HA member. `synchronous_standby_names`, `primary_conninfo` and
 * `primary_slot_name` are deliberately absent: they live in postgresql.auto.conf (sync.ts,
 * replica-setup.ts).
 */
export function memberSettings(id: NodeIdentity, extra: Settings = {}): Record<string, ConfValue> {
  const forbidden = ['synchronous_standby_names', 'primary_conninfo', 'primary_slot_name'].filter((k) => k in extra);
  if (forbidden.length > 0) throw new Error(`${forbidden.join(', ')} are managed through ALTER SYSTEM, not the static file`);
  return {
    listen_addresses: id.listenAddress,
    port: id.port,
    // Never the compiled-in /tmp: one directory per member, owned by the service user.
    unix_socket_directories: id.socketDir,
    unix_socket_permissions: '0700',
    cluster_name: id.name,
    wal_level: 'replica',
    hot_standby: true,
    hot_standby_feedback: true,
    max_wal_senders: 10,
    max_replication_slots: 10,
    wal_keep_size: '256MB',
    // pg_rewind needs hint bits WAL-logged (checksums also do it; both on is fine).
    wal_log_hints: true,
    wal_receiver_status_interval: '1s',
    // Start-up after a crash or a clone syncs the data dir: one syncfs instead of an fsync per file.
    recovery_init_sync_method: 'syncfs',
    wal_sender_timeout: '10s',
    wal_receiver_timeout: '10s',
    password_encryption: 'scram-sha-256',
    log_line_prefix: '%m [%p] %q%u@%d ',
    // The agent reads some server messages (why a replica cannot follow): untranslated.
    lc_messages: 'C',
    log_destination: 'stderr',
    logging_collector: false,
    ...extra,
  };
}

export function renderConf(settings: Settings, header: string): string {
  const lines = [`# ${header}`, '# Written by the Bulwark agent: edits are overwritten.', ''];
  for (const [k, v] of Object.entries(settings)) {
    if (!/^[a-z_][a-z0-9_.]*$/i.test(k)) throw new Error(`not a setting name: ${JSON.stringify(k)}`);
    lines.push(`${k} = ${confValue(v)}`);
  }
  return lines.join('\n') + '\n';
}

/** Append `include '<file>'` to postgresql.conf unless already there. Returns true when added. */
export function ensureInclude(dataDir: string, file = BULWARK_CONF): boolean {
  const conf = path.join(dataDir, 'postgresql.conf');
  const text = fs.existsSync(conf) ? fs.readFileSync(conf, 'utf8') : '';
  const line = `include '${file}'`;
  if (text.split('\n').some((l) => l.trim() === line)) return false;
  fs.writeFileSync(conf, `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}\n# Bulwark: per-member settings\n${line}\n`);
  return true;
}

// ---------------------------------------------------------------------------------------------
// postgresql.auto.conf (offline)

function unquoteConf(raw: string): string {
  const v = raw.trim();
  if (!v.startsWith("'")) return v.replace(/\s+#.*$/, '');
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v[i]!;
    if (c === "'") {
      if (v[i + 1] === "'") {
        out += "'";
        i++;
        continue;
      }
      break;
    }
    if (c === '\\' && i + 1 < v.length) {
      i++;
      const e = v[i]!;
      out += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
      continue;
    }
    out += c;
  }
  return out;
}

export function parseConfText(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*)$/.exec(t);
    if (!m) continue;
    out.set(m[1]!.toLowerCase(), unquoteConf(m[2]!));
  }
  return out;
}

export function readAutoConf(dataDir: string): Map<string, string> {
  const p = path.join(dataDir, AUTO_CONF);
  return fs.existsSync(p) ? parseConfText(fs.readFileSync(p, 'utf8')) : new Map();
}

/** Write postgresql.auto.conf the way ALTER SYSTEM does (server must be stopped). */
export function renderAutoConf(values: ReadonlyMap<string, string>): string {
  const lines = ['# Do not edit this file manually!', '# It will be overwritten by the ALTER SYSTEM command.'];
  for (const [k, v] of values) lines.push(`${k} = '${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// pg_hba.conf / pg_ident.conf

export type HbaMethod = 'peer' | 'trust' | 'scram-sha-256' | 'reject';

export interface HbaRule {
  readonly type: 'local' | 'host' | 'hostssl' | 'hostnossl';
  /** `all`, `replication`, a database name. */
  readonly database: string;
  readonly user: string;
  /** An IP (→ /32 or /128) or a CIDR; not for `local`. */
  readonly address?: string;
  readonly method: HbaMethod;
  /** e.g. `map=bulwark` */
  readonly options?: string;
}

function hbaAddress(addr: string): string {
  const [ip, bits] = addr.split('/');
  const family = net.isIP(ip ?? '');
  if (family === 0) throw new Error(`pg_hba: not an IP address: ${JSON.stringify(addr)}`);
  if (bits !== undefined) {
    const n = Number(bits);
    if (!Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) throw new Error(`pg_hba: bad prefix length in ${addr}`);
    return `${ip}/${n}`;
  }
  return `${ip}/${family === 4 ? 32 : 128}`;
}

function hbaName(n: string): string {
  if (/^[A-Za-z0-9_.\-]+$/.test(n)) return n;
  return `"${n.replace(/"/g, '""')}"`;
}

export function renderHba(rules: readonly HbaRule[]): string {
  const lines = ['# pg_hba.conf written by the Bulwark agent: edits are overwritten.', '# Anything not matched below is rejected.'];
  for (const r of rules) {
    const db = ['all', 'replication', 'sameuser', 'samerole'].includes(r.database) ? r.database : hbaName(r.database);
    const user = r.user === 'all' ? 'all' : hbaName(r.user);
    const cols = r.type === 'local' ? [r.type, db, user] : [r.type, db, user, hbaAddress(r.address ?? '')];
    cols.push(r.method);
    if (r.options) cols.push(r.options);
    lines.push(cols.join('\t'));
  }
  return lines.join('\n') + '\n';
}

const MEMBER_CERT = 'clientcert=verify-ca';

export interface StandardHbaInput {
  /** The database superuser (socket only, peer through the ident map). */
  readonly superuser: string;
  readonly replicationUser: string;
  /** The role pg_rewind and CHECKPOINT use from other members (optional). */
  readonly rewindUser?: string;
  /** Addresses of every database member (replication and rewind come only from these). */
  readonly members: readonly string[];
  readonly app?: { readonly user: string; readonly database: string; readonly clients: readonly string[] };
}

/**
 * The rules an HA member needs and nothing more: the superuser over the socket through the
 * ident map (the agent's OS user and the service user only), replication and rewind from member
 * addresses, the application role from its clients, all with scram-sha-256 and all over TLS
 * (`hostssl`: a plain-text connection matches no row and is refused). Replication and rewind
 * also need a client certificate from the cluster CA (`clientcert=verify-ca`, members present
 * their node certificate): a leaked password alone does not let anyone copy the database. Not
 * verify-full, which compares the certificate's CN with the role name: ours names the node, and
 * PostgreSQL takes no user map for password methods.
 */
export function standardHba(input: StandardHbaInput): HbaRule[] {
  const rules: HbaRule[] = [
    { type: 'local', database: 'all', user: input.superuser, method: 'peer', options: `map=${IDENT_MAP}` },
    { type: 'local', database: 'replication', user: input.superuser, method: 'peer', options: `map=${IDENT_MAP}` },
  ];
  const uniq = (xs: readonly string[]): string[] => [...new Set(xs)];
  for (const m of uniq(input.members)) {
    // Physical replication connections (walreceiver, clone) match the `replication` keyword.
    rules.push({ type: 'hostssl', database: 'replication', user: input.replicationUser, address: m, method: 'scram-sha-256', options: MEMBER_CERT });
    if (input.rewindUser) rules.push({ type: 'hostssl', database: 'postgres', user: input.rewindUser, address: m, method: 'scram-sha-256', options: MEMBER_CERT });
  }
  if (input.app) {
    for (const c of uniq(input.app.clients)) {
      rules.push({ type: 'hostssl', database: input.app.database, user: input.app.user, address: c, method: 'scram-sha-256' });
    }
  }
  return rules;
}

/** pg_ident.conf: map each OS user in `systemUsers` to the database superuser. */
export function renderIdent(superuser: string, systemUsers: readonly string[]): string {
  const lines = ['# pg_ident.conf written by the Bulwark agent.'];
  for (const u of new Set(systemUsers)) lines.push(`${IDENT_MAP}\t${hbaName(u)}\t${hbaName(superuser)}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// postmaster.pid

export interface PostmasterPid {
  readonly pid: number;
  readonly dataDir: string;
  readonly startTime: number;
  readonly port: number;
  readonly socketDir: string;
  readonly listenAddress: string;
  /** `starting`, `stopping`, `ready`, `standby` (line 8; absent in a half-written file). */
  readonly status?: string;
}

export function parsePostmasterPid(text: string): PostmasterPid | undefined {
  const l = text.split('\n');
  const pid = Number(l[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const status = l[7]?.trim();
  return {
    pid,
    dataDir: l[1] ?? '',
    startTime: Number(l[2] ?? 0),
    port: Number(l[3] ?? 0),
    socketDir: l[4] ?? '',
    listenAddress: l[5] ?? '',
    ...(status ? { status } : {}),
  };
}

export function readPostmasterPid(dataDir: string): PostmasterPid | undefined {
  try {
    return parsePostmasterPid(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}
