/**
 * Address lists (CIDRs or bare addresses) compiled once into node's BlockList, and the one way
 * the project writes a client address (IPv4-mapped IPv6 as plain IPv4).
 */
import { BlockList, isIPv6 } from 'node:net';

/** undefined for an empty list, so that "no list" costs nothing to check. */
export function compileCidrs(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const v6 = isIPv6(addr);
    list.addSubnet(addr, bits === undefined ? (v6 ? 128 : 32) : Number(bits), v6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

export function inCidrs(list: BlockList | undefined, ip: string): boolean {
  return list !== undefined && ip !== '' && list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
}

/** `::ffff:192.0.2.1` → `192.0.2.1`: how sockets report IPv4 peers on a dual-stack listener. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
