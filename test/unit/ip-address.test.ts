/** canonicalIp: an address as typed, written as the edge keys its clients. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp } from '../../src/core/ip-address.js';

it('writes IPv4, IPv6 and IPv4-mapped IPv6 addresses the way the data plane does', () => {
  assert.equal(canonicalIp('10.0.0.7'), '10.0.0.7');
  assert.equal(canonicalIp(' 10.0.0.7 '), '10.0.0.7');
  assert.equal(canonicalIp('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(canonicalIp('::FFFF:127.0.0.2'), '127.0.0.2');
  assert.equal(canonicalIp('::ffff:7f00:2'), '127.0.0.2');
  assert.equal(canonicalIp('FD00:0:0::12'), 'fd00::12');
  assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIp('::1'), '::1');
  assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1%eth0');
});

it('refuses what is not an IP address', () => {
  for (const s of ['', 'nope', '10.0.0', '10.0.0.256', '10.0.0.0/8', 'example.com', '::g']) assert.equal(canonicalIp(s), undefined, s);
});
