/** Rules for single values that are more than a type: names, addresses, paths, host patterns. */
import { isIP } from 'node:net';
import { describe, type MapView, type Opt, type Reader } from './reader.js';
import type { YNode } from './yaml-positions.js';

/** Node and cluster names: lowercase letters, digits and dashes (a DNS label). */
export const NODE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Frontend, backend and server names: letters, digits, `.`, `_`, `-`. */
export const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** HTTP token characters (header and cookie names). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function rule(r: Reader, path: string, value: string | undefined, ok: boolean, what: string): string | undefined {
  if (value === undefined || ok) return value;
  r.issues.add(path, `expected ${what}, got ${JSON.stringify(value)}`);
  return undefined;
}

export function nodeName(m: MapView, key: string, opt: Opt = {}): string | undefined {
  const v = m.str(key, opt);
  return rule(m.reader, m.at(key), v, v !== undefined && NODE_NAME.test(v), 'lowercase letters, digits and dashes (like web-1)');
}

export function label(m: MapView, key: string, opt: Opt = {}): string | undefined {
  const v = m.str(key, opt);
  return rule(m.reader, m.at(key), v, v !== undefined && LABEL.test(v), 'a name of letters, digits, ".", "_" or "-" (like app)');
}

export function ipAddress(m: MapView, key: string, opt: Opt = {}): string | undefined {
  const v = m.str(key, opt);
  return rule(m.reader, m.at(key), v, v !== undefined && isIP(v) !== 0, 'an IPv4 or IPv6 address like 127.0.1.11 or ::1');
}

/** A URL path: starts with `/`, no spaces. */
export function urlPath(m: MapView, key: string, opt: Opt = {}): string | undefined {
  const v = m.str(key, opt);
  return rule(m.reader, m.at(key), v, v !== undefined && /^\/\S*$/.test(v), 'a path starting with "/" (like /api)');
}

/** `example.com` or `*.example.com`; returned lowercase (hosts are case-insensitive). */
export function hostPattern(m: MapView, key: string): string | undefined {
  const v = m.str(key);
  const ok = v !== undefined && HOSTNAME.test(v.startsWith('*.') ? v.slice(2) : v);
  return rule(m.reader, m.at(key), v, ok, 'a host like example.com or *.example.com (no port, no scheme)')?.toLowerCase();
}

export function token(m: MapView, key: string, what: string): string | undefined {
  const v = m.str(key);
  return rule(m.reader, m.at(key), v, v !== undefined && TOKEN.test(v), what);
}

/** `host:port` or `[v6]:port`, where host is an IP address or a DNS name. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2]!;
  return isIP(host) === 4 || HOSTNAME.test(host) ? { host, port } : undefined;
}

export function hostPort(m: MapView, key: string, opt: Opt = {}): { host: string; port: number } | undefined {
  const v = m.str(key, opt);
  if (v === undefined) return undefined;
  const hp = parseHostPort(v);
  if (!hp) m.reader.issues.add(m.at(key), `expected host:port like 10.0.0.5:3000 or [::1]:3000, got ${JSON.stringify(v)}`);
  return hp;
}

/** An HTTP status 100–599, or a non-empty list of them. */
export function statusList(r: Reader, node: YNode, path: string): number[] | undefined {
  const one = (n: YNode, p: string): number | undefined => r.int(n, p, { min: 100, max: 599 });
  if (node.kind !== 'seq') {
    if (node.kind === 'scalar' && typeof node.value === 'number') {
      const s = one(node, path);
      return s === undefined ? undefined : [s];
    }
    r.issues.add(path, `expected an HTTP status like 200 or a list like [200, 204], got ${describe(node)}`);
    return undefined;
  }
  const items = r.list(node, path) ?? [];
  if (items.length === 0) {
    r.issues.add(path, 'must list at least one status (leave the key out to accept any 2xx or 3xx)');
    return undefined;
  }
  const out = items.map((i) => one(i.node, i.path));
  return out.every((s): s is number => s !== undefined) ? out : undefined;
}
