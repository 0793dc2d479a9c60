/**
 * Small, pure helpers for talking to PostgreSQL safely: identifier and literal quoting (for the
 * utility statements that take no bind parameters: ALTER SYSTEM, CREATE ROLE…), conninfo and
 * passfile escaping, LSN arithmetic and SCRAM-SHA-256 verifiers (so a plaintext password never
 * travels in a statement that could be logged).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** "name" with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('an SQL identifier cannot be empty');
  if (name.includes('\0')) throw new Error('an SQL identifier cannot contain NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * 'value' with quotes doubled. With standard_conforming_strings = on (the default since 9.1 and
 * the only value we run with) backslashes are ordinary characters.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('an SQL literal cannot contain NUL');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A value in postgresql.conf syntax: numbers and booleans bare, everything else quoted. */
export type ConfValue = string | number | boolean;

export function confValue(v: ConfValue): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return String(v);
  }
  if (/[\n\r\0]/.test(v)) throw new Error('a configuration value cannot contain a line break or NUL');
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A libpq conninfo value: bare when simple, else single-quoted with \\ and \' escapes. */
export function conninfoValue(v: string | number): string {
  const s = String(v);
  if (s.length > 0 && /^[A-Za-z0-9_.\-/:@]+$/.test(s)) return s;
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function buildConninfo(params: Readonly<Record<string, string | number | undefined>>): string {
  return Object.entries(params)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${conninfoValue(v)}`)
    .join(' ');
}

/** Parse a libpq key=value conninfo string (the subset we write: quoted and bare values). */
export function parseConninfo(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && /\s/.test(s[i]!)) i++;
    if (i >= n) break;
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`conninfo: missing "=" after "${s.slice(i)}"`);
    const key = s.slice(i, eq).trim();
    i = eq + 1;
    while (i < n && /\s/.test(s[i]!)) i++;
    let val = '';
    if (s[i] === "'") {
      i++;
      while (i < n && s[i] !== "'") {
        if (s[i] === '\\' && i + 1 < n) i++;
        val += s[i];
        i++;
      }
      i++;
    } else {
      while (i < n && !/\s/.test(s[i]!)) {
        if (s[i] === '\\' && i + 1 < n) i++;
        val += s[i];
        i++;
      }
    }
    out[key] = val;
  }
  return out;
}

/** One field of a .pgpass line: `:` and `\` escaped with a backslash. */
export function pgpassField(v: string): string {
  if (/[\n\r]/.test(v)) throw new Error('a passfile field cannot contain a line break');
  return v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

export interface PassfileEntry {
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user: string;
  readonly password: string;
}

export function renderPassfile(entries: readonly PassfileEntry[]): string {
  return entries
    .map((e) =>
      [e.host ?? '*', e.port === undefined ? '*' : String(e.port), e.database ?? '*', e.user, e.password]
        .map((f, i) => (i < 4 && f === '*' ? '*' : pgpassField(f)))
        .join(':'),
    )
    .map((l) => `${l}\n`)
    .join('');
}

// ---------------------------------------------------------------------------------------------
// LSNs

/** A WAL position: the server's text form and the byte position. */
export interface Lsn {
  /** As PostgreSQL prints it: `0/3000148`. */
  readonly text: string;
  /**
   * Byte position as a number: exact up to 2^53 (8 PiB of WAL), JSON-friendly for the DCS.
   * Use `lsnToBigInt(text)` for exact arithmetic beyond that.
   */
  readonly bytes: number;
}

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function lsnToBigInt(text: string): bigint {
  const m = LSN_RE.exec(text);
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function parseLsn(text: string): Lsn {
  return { text: text.toUpperCase(), bytes: Number(lsnToBigInt(text)) };
}

export function parseLsnOrNull(text: string | null | undefined): Lsn | null {
  return text ? parseLsn(text) : null;
}

export function formatLsn(pos: bigint | number): string {
  const b = BigInt(pos);
  return `${(b >> 32n).toString(16).toUpperCase()}/${(b & 0xffffffffn).toString(16).toUpperCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Passwords

/** A random password of URL-safe characters (no quoting issues anywhere). */
export function generatePassword(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as
 * `pg_fe_scram_build_secret` builds it). `ALTER ROLE … PASSWORD '<verifier>'` stores it as is,
 * so the plaintext never appears in a statement (statement logs, pg_stat_activity).
 */
export function scramSha256Verifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  // PostgreSQL applies SASLprep; for the ASCII passwords we generate it is the identity.
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A replication slot name PostgreSQL accepts ([a-z0-9_], ≤ 63) derived from a member name. */
export function slotNameFor(member: string): string {
  const s = member.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
  if (s.length === 0) throw new Error(`cannot derive a slot name from ${JSON.stringify(member)}`);
  return s;
}
