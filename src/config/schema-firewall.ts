/** Schema + defaults for `firewall`: the host firewall every node's ruleset is derived with. */
import { BlockList, isIP } from 'node:net';
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import type { MapView } from './reader.js';
import type { FirewallSpec } from './types.js';

export function readFirewall(top: MapView): FirewallSpec {
  const m = top.map('firewall', KEYS.firewall);
  const d = DEFAULTS.firewall;
  return {
    host: m?.oneOf('host', ['plan-only', 'enforce'] as const) ?? d.host,
    clientNetworks: (m && cidrList(m, 'client_networks')) ?? [...d.clientNetworks],
    adminNetworks: (m && cidrList(m, 'admin_networks')) ?? [],
    sshPort: m?.port('ssh_port') ?? d.sshPort,
    confirmTimeoutMs: m?.duration('confirm_timeout') ?? d.confirmTimeoutMs,
  };
}

/** A list of CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or plain addresses (a /32 or /128). */
export function cidrList(m: MapView, key: string): string[] | undefined {
  const items = m.list(key);
  if (!items) return undefined;
  const out: string[] = [];
  for (const item of items) {
    const text = m.reader.string(item.node, item.path);
    if (text === undefined) continue;
    const cidr = parseCidr(text);
    if (!cidr) m.reader.issues.add(item.path, `expected an address or CIDR like 10.0.0.0/8 or 2001:db8::/32, got ${JSON.stringify(text)}`, item.node.pos);
    else out.push(cidr);
  }
  return out;
}

/** Normalised `addr/len`, or undefined when the text is not an address or CIDR. */
export function parseCidr(text: string): string | undefined {
  const [addr, len, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (len !== undefined && !/^\d+$/.test(len))) return undefined;
  // BlockList validates the pair the way the kernel will read it.
  new BlockList().addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
  return `${addr}/${bits}`;
}
