/** PROXY protocol v1 and v2 headers, split at every byte, and what is refused. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader } from '../../src/data-plane/proxy-protocol/index.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
function v2(cmd: number, fam: number, addr: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | cmd;
  head[1] = fam;
  head.writeUInt16BE(addr.length, 2);
  return Buffer.concat([SIG, head, addr]);
}

/** Every prefix shorter than the header asks for more; the whole header parses. */
function parsedWhole(bytes: Buffer, rest = Buffer.from('GET / HTTP/1.1\r\n')) {
  const all = Buffer.concat([bytes, rest]);
  for (let i = 1; i < bytes.length; i++) assert.equal(parseProxyHeader(all.subarray(0, i)), undefined, `prefix of ${i} bytes`);
  const h = parseProxyHeader(all)!;
  assert.equal(h.length, bytes.length);
  return h;
}

describe('PROXY protocol', () => {
  it('v1 TCP4, TCP6 and UNKNOWN', () => {
    assert.deepEqual(parsedWhole(Buffer.from('PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n')).source, { address: '192.0.2.7', port: 51234 });
    assert.deepEqual(parsedWhole(Buffer.from('PROXY TCP6 2001:DB8::7 2001:db8::1 4000 443\r\n')).source, { address: '2001:db8::7', port: 4000 });
    assert.equal(parsedWhole(Buffer.from('PROXY UNKNOWN\r\n')).source, undefined);
  });

  it('v2 PROXY over IPv4 and IPv6, and LOCAL', () => {
    const a4 = Buffer.from([192, 0, 2, 7, 10, 0, 0, 1, 0xc8, 0x22, 0x01, 0xbb]);
    assert.deepEqual(parsedWhole(v2(1, 0x11, a4)).source, { address: '192.0.2.7', port: 51234 });
    const a6 = Buffer.concat([Buffer.from('20010db8000000000000000000000007', 'hex'), Buffer.alloc(16), Buffer.from([0x0f, 0xa0, 0x01, 0xbb])]);
    assert.deepEqual(parsedWhole(v2(1, 0x21, a6)).source, { address: '2001:db8::7', port: 4000 });
    assert.equal(parsedWhole(v2(0, 0x00, Buffer.alloc(0))).source, undefined);
    // TLVs after the addresses are part of the header and skipped.
    assert.equal(parsedWhole(v2(1, 0x11, Buffer.concat([a4, Buffer.from([0x04, 0x00, 0x01, 0x00])]))).length, 16 + 16);
  });

  it('refuses what is not a PROXY header, with the reason', () => {
    assert.throws(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), /does not start with a PROXY protocol header/);
    assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n')), /bad PROXY v1 address/);
    assert.throws(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.1.1.1 2\r\n')), /bad PROXY v1 line/);
    assert.throws(() => parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), /longer than 107 bytes/);
    assert.throws(() => parseProxyHeader(Buffer.from('POST /')), /not a PROXY header/);
    assert.throws(() => parseProxyHeader(v2(2, 0x11, Buffer.alloc(12))), /command 2/);
    assert.throws(() => parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 0])])), /version 3/);
    assert.throws(() => parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))), /family 0x31/);
  });
});
