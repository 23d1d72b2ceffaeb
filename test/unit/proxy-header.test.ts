import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, NetworkList } from '../../src/submission/client-address.js';
import { parseProxyHeader, proxySignature, V1_MAX_LENGTH, type ProxyParse } from '../../src/submission/proxy-header.js';

/** The PROXY header parser on the spec's examples (HAProxy, "The PROXY protocol" v1 and v2) and broken headers. */

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(versionCommand: number, familyTransport: number, payload: Buffer, declared = payload.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(declared, 2);
  return Buffer.concat([SIG, fixed, payload]);
}

function inet(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(source), Buffer.from(destination), ports]);
}

function header(parsed: ProxyParse) {
  assert.equal(parsed.kind, 'header', JSON.stringify(parsed));
  return (parsed as Extract<ProxyParse, { kind: 'header' }>).header;
}

function invalid(parsed: ProxyParse, pattern: RegExp, tooLong = false): void {
  assert.equal(parsed.kind, 'invalid', JSON.stringify(parsed));
  const failure = parsed as Extract<ProxyParse, { kind: 'invalid' }>;
  assert.match(failure.reason, pattern);
  assert.equal(failure.tooLong, tooLong);
}

const text = (value: string) => Buffer.from(value, 'latin1');

test('v1 TCP4, TCP6 and UNKNOWN as the spec writes them; the bytes after the header are not part of it', () => {
  const tcp4 = header(parseProxyHeader(text('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO client\r\n')));
  assert.deepEqual(tcp4, { version: 1, length: 47, source: { ip: '192.168.0.1', port: 56324 }, destination: { ip: '192.168.0.11', port: 443 } });

  const longest = 'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';
  assert.equal(longest.length, 104);
  const tcp6 = header(parseProxyHeader(text(longest)));
  assert.deepEqual(tcp6.source, { ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 });
  assert.equal(tcp6.length, 104);

  // One spelling per address: the limits and the AUTH guard must not see two clients in one.
  assert.deepEqual(header(parseProxyHeader(text('PROXY TCP6 2001:DB8:0:0::7 ::1 1 2\r\n'))).source, { ip: '2001:db8::7', port: 1 });
  assert.deepEqual(header(parseProxyHeader(text('PROXY TCP6 ::ffff:203.0.113.7 ::1 1 2\r\n'))).source, { ip: '203.0.113.7', port: 1 });

  assert.deepEqual(parseProxyHeader(text('PROXY UNKNOWN\r\n')), { kind: 'header', header: { version: 1, length: 15, source: null, destination: null } });
  // UNKNOWN: "the receiver must ignore anything presented before the CRLF", up to the 107-byte line.
  const unknown = `PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 16)}\r\n`;
  assert.equal(unknown.length, V1_MAX_LENGTH);
  assert.equal(header(parseProxyHeader(text(`${unknown}QUIT\r\n`))).length, V1_MAX_LENGTH);
});

test('v1: anything but the exact grammar is refused, and a line past 107 bytes is too long', () => {
  const cases: [string, RegExp][] = [
    ['PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n', /not an IPv4 address|fields/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n', /3 fields/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n', /5 fields/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n', /port "65536"/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n', /port "056324"/],
    ['PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n', /port "-1"/],
    ['PROXY TCP4 192.168.000.1 192.168.0.11 1 443\r\n', /not an IPv4 address/],
    ['PROXY TCP4 ::1 192.168.0.11 1 443\r\n', /"::1", which is not an IPv4 address/],
    ['PROXY TCP6 192.168.0.1 ::1 1 443\r\n', /not an IPv6 address/],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 443\r\n', /not an IPv6 address/],
    ['PROXY TCP6 [::1] ::1 1 443\r\n', /not an IPv6 address/],
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', /protocol "TCP5"/],
    ['PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n', /protocol "tcp4"/],
    ['PROXY UNKNOWNX\r\n', /protocol "UNKNOWNX"/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n', /bare LF/],
    ['PROXY TCP4 1.2.3.4\r1.2.3.4 1 2\r\n', /CR inside/],
    ['PROXY TCP4 1.2.3.4\r1', /CR inside/],
    ['PROXY \x00\xff\r\n', /protocol "\?\?"/],
  ];
  for (const [input, pattern] of cases) invalid(parseProxyHeader(text(input)), pattern);
  invalid(parseProxyHeader(text(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}\r\n`)), /without CRLF in its first 107 bytes/, true);
  invalid(parseProxyHeader(text(`PROXY ${'9'.repeat(200)}`)), /without CRLF/, true);
  // Short of 107 bytes and no CRLF yet: wait.
  assert.deepEqual(parseProxyHeader(text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r')), { kind: 'incomplete' });
  assert.deepEqual(parseProxyHeader(text(`PROXY ${'x'.repeat(V1_MAX_LENGTH - 7)}`)), { kind: 'incomplete' });
});

test('v2 PROXY over INET and INET6, with TLVs skipped; LOCAL, UNSPEC and UNIX name no client', () => {
  const tlv = Buffer.from([0x20, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00]);
  const ipv4 = v2(0x21, 0x11, Buffer.concat([inet([203, 0, 113, 7], [192, 0, 2, 1], 40000, 465), tlv]));
  assert.deepEqual(parseProxyHeader(Buffer.concat([ipv4, text('\x16\x03\x01')])), {
    kind: 'header',
    header: { version: 2, length: 16 + 12 + 8, source: { ip: '203.0.113.7', port: 40000 }, destination: { ip: '192.0.2.1', port: 465 } },
  });

  const six = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000007', 'hex').copy(six, 0);
  Buffer.from('00000000000000000000ffffcb007108', 'hex').copy(six, 16);
  six.writeUInt16BE(1234, 32);
  six.writeUInt16BE(587, 34);
  const ipv6 = header(parseProxyHeader(v2(0x21, 0x21, six)));
  assert.deepEqual(ipv6.source, { ip: '2001:db8::7', port: 1234 });
  // An IPv4-mapped address is the IPv4 client it maps.
  assert.deepEqual(ipv6.destination, { ip: '203.0.113.8', port: 587 });

  // LOCAL: the balancer's own connection (a health check); the family and addresses are to be ignored.
  assert.deepEqual(header(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0)))), { version: 2, length: 16, source: null, destination: null });
  assert.equal(header(parseProxyHeader(v2(0x20, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).source, null);
  assert.equal(header(parseProxyHeader(v2(0x20, 0xff, Buffer.alloc(3)))).length, 19);
  assert.equal(header(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0)))).source, null);
  assert.equal(header(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(216)))).source, null);
});

test('v2: a wrong version, command, family or length is refused as soon as its byte arrives', () => {
  const block = inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x11])])), /version 1/);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x22])])), /command 2/);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x12])])), /datagram/);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x41])])), /0x41/);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x10])])), /0x10/);
  invalid(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x01])])), /0x01/);
  invalid(parseProxyHeader(v2(0x21, 0x11, block.subarray(0, 11))), /11-byte address block/);
  invalid(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(12))), /needs 36/);
  invalid(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), 2049)), /2065 bytes/, true);
  invalid(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0), 0xffff)), /at most 2064/, true);
  // Declared longer than what came so far: wait for the rest.
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x11, block, 20)), { kind: 'incomplete' });
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x11, block).subarray(0, 27)), { kind: 'incomplete' });
});

test('signatures: decided at the first byte that departs from both', () => {
  assert.equal(proxySignature(Buffer.alloc(0)), 'undecided');
  assert.equal(proxySignature(text('PROX')), 'undecided');
  assert.equal(proxySignature(text('PROXY')), 'undecided');
  assert.equal(proxySignature(text('PROXY ')), 'v1');
  assert.equal(proxySignature(text('PROXY\r\n')), 'none');
  assert.equal(proxySignature(text('\r\n\r\n')), 'undecided');
  assert.equal(proxySignature(SIG), 'v2');
  assert.equal(proxySignature(text('EHLO x\r\n')), 'none');
  assert.equal(proxySignature(text('\r\nEHLO')), 'none');
  assert.equal(proxySignature(Buffer.from([0x16, 0x03, 0x01])), 'none');
  assert.deepEqual(parseProxyHeader(text('EHLO client\r\n')), { kind: 'not-proxy' });
  assert.deepEqual(parseProxyHeader(Buffer.from([0x16])), { kind: 'not-proxy' });
});

test('listen.proxy_from networks match addresses in either spelling', () => {
  const list = new NetworkList(['127.0.111.2/32', '10.0.0.0/8', '2001:db8::/32']);
  assert.ok(list.has('127.0.111.2'));
  assert.ok(!list.has('127.0.111.3'));
  assert.ok(list.has('10.200.1.1'));
  assert.ok(list.has('2001:db8:1::9'));
  assert.ok(list.has('::ffff:10.1.2.3'));
  assert.ok(!list.has(''));
  assert.ok(!new NetworkList([]).has('127.0.0.1'));
  assert.equal(canonicalIp('2001:0DB8::0001'), '2001:db8::1');
  assert.equal(canonicalIp('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(canonicalIp('10.1.2.3'), '10.1.2.3');
  // Not every address under ::ffff: is a mapped IPv4 one.
  assert.equal(canonicalIp('0:0:ffff:0:0:1:0:0'), '::ffff:0:0:1:0:0');
  assert.equal(canonicalIp('::ffff:0:1'), '0.0.0.1');
});
