/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer in front of
 * ours sends first on each connection, carrying the real client's address. Pure parsing over the
 * bytes read so far: "need more", a parsed header and its length, or an error naming what is wrong.
 */
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

export interface ProxyHeader {
  /** Bytes the header takes at the start of the stream. */
  readonly length: number;
  /** The original client, or undefined for LOCAL / UNKNOWN (health checks of the proxy itself). */
  readonly source?: { readonly address: string; readonly port: number };
}

export class ProxyHeaderError extends Error {}

/** undefined: not enough bytes yet. Throws ProxyHeaderError when the bytes are not a PROXY header. */
export function parseProxyHeader(buf: Buffer): ProxyHeader | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyHeader | undefined {
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyHeaderError(`PROXY v1 header longer than ${V1_MAX} bytes`);
    if (!'PROXY '.startsWith(buf.toString('latin1', 0, Math.min(6, buf.length)))) throw new ProxyHeaderError('not a PROXY header');
    return undefined;
  }
  if (end + 2 > V1_MAX) throw new ProxyHeaderError(`PROXY v1 header longer than ${V1_MAX} bytes`);
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[0] !== 'PROXY') throw new ProxyHeaderError('not a PROXY header');
  if (parts[1] === 'UNKNOWN') return { length: end + 2 };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) throw new ProxyHeaderError(`bad PROXY v1 line: ${JSON.stringify(parts.join(' ').slice(0, 60))}`);
  const [, fam, src, , sport] = parts as [string, string, string, string, string, string];
  const port = Number(sport);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(src);
  const okAddr = fam === 'TCP4' ? v4 !== null && v4.slice(1).every((o) => Number(o) <= 255) : /^[0-9a-fA-F:.]+$/.test(src) && src.includes(':');
  if (!okAddr || !/^\d{1,5}$/.test(sport) || port > 65535) throw new ProxyHeaderError(`bad PROXY v1 address or port: ${JSON.stringify(`${src} ${sport}`)}`);
  return { length: end + 2, source: { address: src.toLowerCase(), port } };
}

function parseV2(buf: Buffer): ProxyHeader | undefined {
  const n = Math.min(buf.length, V2_SIG.length);
  if (!buf.subarray(0, n).equals(V2_SIG.subarray(0, n))) throw new ProxyHeaderError('not a PROXY v2 signature');
  if (buf.length < 16) return undefined;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2 version ${verCmd >> 4} is not 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw new ProxyHeaderError(`PROXY v2 command ${cmd} is neither LOCAL nor PROXY`);
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return undefined;
  if (cmd === 0) return { length }; // LOCAL: the proxy speaking for itself
  const fam = buf[13]!;
  if (fam === 0x11 && length >= 16 + 12) {
    const a = buf.subarray(16, 20);
    return { length, source: { address: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, port: buf.readUInt16BE(24) } };
  }
  if (fam === 0x21 && length >= 16 + 36) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + 2 * i).toString(16));
    return { length, source: { address: compressV6(groups), port: buf.readUInt16BE(48) } };
  }
  if (fam === 0x00) return { length }; // UNSPEC
  throw new ProxyHeaderError(`PROXY v2 address family 0x${fam.toString(16)} is not TCP over IPv4 or IPv6`);
}

/** The canonical text of an IPv6 address (longest run of zero groups as ::). */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
