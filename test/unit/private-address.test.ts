import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressLiteral, nonPublicRange } from '../../src/shared/private-address.js';

test('only public unicast addresses are destinations; every internal or special range is named', () => {
  const refused: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'RFC 1918 private'],
    ['172.16.0.1', 'RFC 1918 private'],
    ['172.31.255.254', 'RFC 1918 private'],
    ['192.168.1.1', 'RFC 1918 private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00::25', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    // Documentation ranges are not on the Internet either.
    ['192.0.2.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv6 forms that lead to an IPv4 address are judged by that address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'RFC 1918 private'],
    ['64:ff9b::10.0.0.1', 'RFC 1918 private'],
    ['2002:7f00:1::1', 'loopback'],
    ['::7f00:1', 'IPv4-compatible'],
    // What the system resolver would read as 127.0.0.1 is not a plain address.
    ['0177.0.0.1', 'invalid'],
    ['2130706433', 'invalid'],
  ];
  for (const [ip, range] of refused) assert.equal(nonPublicRange(ip), range, ip);
  assert.notEqual(nonPublicRange('::127.0.0.1'), null);
  for (const ip of ['8.8.8.8', '93.184.215.14', '::ffff:8.8.8.8', '2002:0808:0808::1', '2a00:1450:4007:80e::201a', '172.32.0.1', '100.128.0.1']) {
    assert.equal(nonPublicRange(ip), null, ip);
  }
});

test('address literals as the envelope parser keeps them', () => {
  assert.equal(addressLiteral('example.test'), null);
  assert.equal(addressLiteral('[127.0.0.1]'), '127.0.0.1');
  assert.equal(addressLiteral('[ipv6:::1]'), '::1');
  assert.equal(addressLiteral('[IPv6:2001:db8::1]'), '2001:db8::1');
  assert.equal(addressLiteral('[::1]'), '::1');
  assert.equal(addressLiteral('[ipv6:1.2.3.4]'), '');
  assert.equal(addressLiteral('[0177.0.0.1]'), '');
  assert.equal(addressLiteral('[1.2.3]'), '');
  assert.equal(addressLiteral('[ipv6:fe80::1%eth0]'), '');
});
