/**
 * An address as an operator types it, written the way the data plane keys clients (see
 * normalizeIp in cidr.ts): IPv4 dotted, IPv6 in its RFC 5952 form, an IPv4-mapped IPv6 address as
 * the IPv4 address it carries. Without this, lifting the ban on `::FFFF:10.0.0.7` or `fd00:0::1`
 * would find nothing banned although the client is.
 */
import { isIP } from 'node:net';

/** The canonical form of `text`, or undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  const s = text.trim();
  const family = isIP(s);
  if (family === 4) return s;
  if (family !== 6) return undefined;
  // WHATWG URL serialises an IPv6 host in RFC 5952 form (lowercase, longest zero run compressed),
  // with an embedded IPv4 address in hex: ::ffff:10.0.0.7 becomes ::ffff:a00:7.
  // A link-local address's zone (fe80::1%eth0) is kept as typed: URL does not take one.
  const zone = s.indexOf('%');
  const host = new URL(`http://[${zone < 0 ? s : s.slice(0, zone)}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return zone < 0 ? host : host + s.slice(zone);
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** A loopback address (127.0.0.0/8 or ::1): nodes on these share one machine. */
export function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
