import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_HEADER_LENGTH, parseProxyHeader, V1_MAX_LENGTH, type ProxyParse } from '../../src/submission/proxy-header.js';
import { readProxyHeader } from '../../src/submission/proxy-reader.js';

/**
 * Property tests of the PROXY header parser and reader: a valid header cut at every byte boundary is always
 * "wait for more" until its last byte, then exactly the header, whatever follows it; whatever a hostile peer
 * sends, the parser never throws, never waits past the size a header may have, and never changes its mind when
 * more bytes come (the reader decides on the bytes so far, however the segments were cut).
 */

const RUNS = 400;

// ---- valid headers, built from the client address they must yield ----

/** An address as 16 bytes (IPv4 as its IPv4-mapped IPv6 form), the spelling-free truth to compare with. */
type Address = number[];

function ipv4Mapped(bytes: number[]): Address {
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes];
}

/**
 * Whether the parser's address is `expected`, compared by Node's own address parsing (BlockList), not by the
 * spelling the parser chose; the spelling must be the one canonical form (lower case, IPv4 unmapped).
 */
function isAddress(ip: string, expected: Address): boolean {
  assert.ok(!/^::ffff:[\d.]+$/.test(ip) && ip === ip.toLowerCase(), `not canonical: ${ip}`);
  const list = new net.BlockList();
  list.addAddress(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((expected[i] as number) * 256 + (expected[i + 1] as number)).toString(16));
  return list.check(groups.join(':'), 'ipv6');
}

interface ValidHeader {
  bytes: Buffer;
  /** The client address the header names; null for UNKNOWN, LOCAL, UNSPEC, UNIX. */
  source: { address: Address; port: number } | null;
}

const byte = fc.integer({ min: 0, max: 255 });
const port = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.array(byte, { minLength: 4, maxLength: 4 });
// Zeros and 0xffff often: compressed forms and the ::ffff: prefix of IPv4-mapped addresses (and of some that are not).
const ipv6Groups = fc.array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
const groupsToBytes = (groups: number[]) => groups.flatMap((g) => [g >> 8, g & 0xff]);

/** IPv6 text in the spellings a balancer may use: padded, upper case, or compressed the way Node prints it. */
const ipv6Text = (groups: number[]) =>
  fc.constantFrom(
    groups.map((g) => g.toString(16).padStart(4, '0')).join(':').toUpperCase(),
    groups.map((g) => g.toString(16)).join(':'),
    new net.SocketAddress({ address: groups.map((g) => g.toString(16)).join(':'), family: 'ipv6' }).address,
  );

const v1Tcp4: fc.Arbitrary<ValidHeader> = fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => ({
  bytes: Buffer.from(`PROXY TCP4 ${s.join('.')} ${d.join('.')} ${sp} ${dp}\r\n`, 'latin1'),
  source: { address: ipv4Mapped(s), port: sp },
}));

const v1Tcp6: fc.Arbitrary<ValidHeader> = fc
  .tuple(ipv6Groups, ipv6Groups, port, port)
  .chain(([s, d, sp, dp]) =>
    fc.tuple(ipv6Text(s), ipv6Text(d)).map(([st, dt]) => ({
      bytes: Buffer.from(`PROXY TCP6 ${st} ${dt} ${sp} ${dp}\r\n`, 'latin1'),
      source: { address: groupsToBytes(s), port: sp },
    })),
  );

const v1Unknown: fc.Arbitrary<ValidHeader> = fc
  .string({ unit: fc.constantFrom(...'abc 0123456789.:'.split('')), maxLength: V1_MAX_LENGTH - 16 })
  .map((junk) => ({ bytes: Buffer.from(`PROXY UNKNOWN${junk ? ` ${junk}` : ''}\r\n`, 'latin1'), source: null }));

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(versionCommand: number, familyTransport: number, payload: Buffer): Buffer {
  const fixed = Buffer.from([versionCommand, familyTransport, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([SIG, fixed, payload]);
}

const portBytes = (p: number) => [p >> 8, p & 0xff];
const tlvs = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));

const v2Proxy: fc.Arbitrary<ValidHeader> = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port, tlvs).map(([s, d, sp, dp, extra]) => ({
    bytes: v2(0x21, 0x11, Buffer.concat([Buffer.from([...s, ...d, ...portBytes(sp), ...portBytes(dp)]), extra])),
    source: { address: ipv4Mapped(s), port: sp },
  })),
  fc.tuple(ipv6Groups, ipv6Groups, port, port, tlvs).map(([s, d, sp, dp, extra]) => ({
    bytes: v2(0x21, 0x21, Buffer.concat([Buffer.from([...groupsToBytes(s), ...groupsToBytes(d), ...portBytes(sp), ...portBytes(dp)]), extra])),
    source: { address: groupsToBytes(s), port: sp },
  })),
);

const v2Nameless: fc.Arbitrary<ValidHeader> = fc.oneof(
  // LOCAL: whatever family byte and block, no client.
  fc.tuple(byte, fc.uint8Array({ maxLength: 300 })).map(([family, block]) => ({ bytes: v2(0x20, family, Buffer.from(block)), source: null })),
  tlvs.map((extra) => ({ bytes: v2(0x21, 0x00, extra), source: null })),
  fc.uint8Array({ minLength: 216, maxLength: 300 }).map((block) => ({ bytes: v2(0x21, 0x31, Buffer.from(block)), source: null })),
);

const validHeader = fc.oneof(v1Tcp4, v1Tcp6, v1Unknown, v2Proxy, v2Nameless);
/** What a client sends after the header: SMTP, a TLS ClientHello, or anything. */
const rest = fc.oneof(
  fc.constantFrom(Buffer.alloc(0), Buffer.from('EHLO client\r\nAUTH PLAIN AGEAYg==\r\n'), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
);

function checkHeader(parsed: ProxyParse, expected: ValidHeader): void {
  assert.equal(parsed.kind, 'header', JSON.stringify(parsed));
  const header = (parsed as Extract<ProxyParse, { kind: 'header' }>).header;
  assert.equal(header.length, expected.bytes.length);
  if (expected.source === null) return assert.equal(header.source, null);
  assert.ok(header.source);
  assert.ok(isAddress(header.source.ip, expected.source.address), `${header.source.ip} is not ${expected.source.address.join(',')}`);
  assert.equal(header.source.port, expected.source.port);
}

test('a valid header cut at every byte boundary: incomplete until its last byte, then exactly the header', () => {
  fc.assert(
    fc.property(validHeader, rest, (header, after) => {
      for (let cut = 0; cut < header.bytes.length; cut++) {
        assert.deepEqual(parseProxyHeader(header.bytes.subarray(0, cut)), { kind: 'incomplete' }, `cut at ${cut}`);
      }
      checkHeader(parseProxyHeader(header.bytes), header);
      checkHeader(parseProxyHeader(Buffer.concat([header.bytes, after])), header);
    }),
    { numRuns: RUNS },
  );
});

/** Cut points, taken modulo the input's length so one draw fits any input. */
const cuts = fc.array(fc.noBias(fc.nat({ max: 0xffffffff })), { maxLength: 12 });

function split(input: Buffer, positions: number[]): Buffer[] {
  const points = [...new Set(positions.map((p) => p % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    if (point <= from) continue;
    chunks.push(input.subarray(from, point));
    from = point;
  }
  chunks.push(input.subarray(from));
  return chunks.filter((chunk) => chunk.length > 0);
}

/** Everything a stream gives from now until its end. */
function readAll(stream: PassThrough): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.resume();
  });
}

test('the reader, fed in random segments: the header, and every byte after it left in the stream in order', async () => {
  await fc.assert(
    fc.asyncProperty(validHeader, rest, cuts, async (header, after, positions) => {
      // A stream in place of the socket: the reader only uses what both have (data, pause, unshift, end).
      const stream = new PassThrough();
      const reading = readProxyHeader(stream as unknown as net.Socket, 5000);
      for (const chunk of split(Buffer.concat([header.bytes, after]), positions)) {
        stream.write(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      stream.end();
      const read = await reading;
      assert.ok(read.ok, JSON.stringify(read));
      checkHeader({ kind: 'header', header: read.header }, header);
      assert.deepEqual(await readAll(stream), after);
    }),
    { numRuns: 300 },
  );
});

// ---- hostile input ----

/** Bytes that matter to the parser, often: both signatures, CR, LF, spaces, digits, address characters. */
const hostileFragment = fc.oneof(
  { weight: 3, arbitrary: byte.map((b) => Buffer.from([b])) },
  { weight: 2, arbitrary: fc.constantFrom('\r\n', '\r', '\n', ' ', '.', ':', '0', '9', '65535', '255', 'ffff', '::', '%').map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.constantFrom('TCP4 ', 'TCP6 ', 'UNKNOWN', '1.2.3.4 ', '::1 ').map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 130 }).map((n) => Buffer.alloc(n, 0x31)) },
);
const hostile = fc
  .tuple(
    fc.oneof(
      fc.constant(Buffer.alloc(0)),
      fc.constant(Buffer.from('PROXY ')),
      fc.constant(SIG),
      // The v2 fixed part with any version, command, family and (often small) length.
      fc.tuple(byte, byte, fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff }))).map(([vc, ft, length]) =>
        Buffer.concat([SIG, Buffer.from([vc, ft, length >> 8, length & 0xff])]),
      ),
    ),
    fc.array(hostileFragment, { maxLength: 40 }),
  )
  .map(([start, fragments]) => Buffer.concat([start, ...fragments]));

test('hostile bytes: never a throw, never a wait past the largest header, the verdict never changes with more bytes', () => {
  fc.assert(
    fc.property(hostile, fc.uint8Array({ maxLength: 200 }), (input, more) => {
      const parsed = parseProxyHeader(input);
      if (parsed.kind === 'incomplete') {
        assert.ok(input.length < MAX_HEADER_LENGTH, `waiting with ${input.length} bytes`);
        if (input.subarray(0, 6).toString('latin1') === 'PROXY ') assert.ok(input.length < V1_MAX_LENGTH);
        return;
      }
      const extended = parseProxyHeader(Buffer.concat([input, more]));
      assert.equal(extended.kind, parsed.kind, `${JSON.stringify(parsed)} became ${JSON.stringify(extended)}`);
      if (parsed.kind === 'header') {
        assert.deepEqual(extended, parsed);
        assert.ok(parsed.header.length <= input.length);
        for (const end of [parsed.header.source, parsed.header.destination]) {
          if (!end) continue;
          assert.notEqual(net.isIP(end.ip), 0, end.ip);
          assert.ok(end.port >= 0 && end.port <= 65535);
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test('valid headers with one byte changed: a verdict, never a throw, and any address still a real one', () => {
  fc.assert(
    fc.property(validHeader, fc.nat(), byte, (header, at, value) => {
      const bytes = Buffer.from(header.bytes);
      bytes[at % bytes.length] = value;
      const parsed = parseProxyHeader(bytes);
      if (parsed.kind !== 'header') return;
      assert.ok(parsed.header.length <= bytes.length);
      for (const end of [parsed.header.source, parsed.header.destination]) {
        if (end) assert.notEqual(net.isIP(end.ip), 0, end.ip);
      }
    }),
    { numRuns: 3000 },
  );
});
