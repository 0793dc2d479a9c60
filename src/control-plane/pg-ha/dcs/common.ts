/**
 * Small helpers every DCS backend shares: argument checks (programmer errors throw TypeError
 * before anything is sent), JSON encoding of documents and member data, doc-key validation.
 */
import type { DocKey, MemberRecord } from './types.js';

export const DOC_KEYS: readonly DocKey[] = ['initialize', 'sync', 'failover', 'config', 'history', 'failsafe'];

const DOC_KEY_SET: ReadonlySet<string> = new Set(DOC_KEYS);

export function isDocKey(key: unknown): key is DocKey {
  return typeof key === 'string' && DOC_KEY_SET.has(key);
}

/** Member and holder names: what the HA loop uses as node names, so short and printable. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RE.test(name);
}

export function checkName(name: unknown, what = 'name'): asserts name is string {
  if (!isValidName(name)) {
    throw new TypeError(`DCS ${what} must be 1-128 characters of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(name)}`);
  }
}

export function checkTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`DCS ttlMs must be a positive number of milliseconds, got ${String(ttlMs)}`);
  }
}

export function checkDocKey(key: unknown): asserts key is DocKey {
  if (!isDocKey(key)) throw new TypeError(`unknown DCS document ${JSON.stringify(key)} (known: ${DOC_KEYS.join(', ')})`);
}

export function checkExpectedVersion(v: unknown, allowNull: boolean): asserts v is string | null | undefined {
  if (v === undefined || typeof v === 'string' || (allowNull && v === null)) return;
  throw new TypeError(`DCS expectedVersion must be a string${allowNull ? ', null' : ''} or undefined, got ${String(v)}`);
}

/** JSON text of a document or member data; throws TypeError for what JSON cannot carry. */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`${what} is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (text === undefined) throw new TypeError(`${what} is not JSON-serialisable (got ${typeof value})`);
  return text;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function byName(a: MemberRecord, b: MemberRecord): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
