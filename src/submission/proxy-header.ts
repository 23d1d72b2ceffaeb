import net from 'node:net';
import { canonicalIp } from './client-address.js';

/**
 * The PROXY protocol header a load balancer sends before the client's first byte (HAProxy's specification,
 * "The PROXY protocol", versions 1 and 2): who the client is, since the TCP connection comes from the balancer.
 * Pure functions over the bytes received so far; the caller reads the socket (proxy-reader.ts).
 */

export interface ProxyEndpoint {
  ip: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** Bytes the header takes: whatever follows them is the client's own stream (its TLS handshake, or SMTP). */
  length: number;
  /**
   * The client the balancer speaks for. Null when the header names none: a health check of the balancer itself
   * (v1 `PROXY UNKNOWN`, v2 LOCAL), or a v2 address of no IP family (UNSPEC, UNIX). The spec then says to use
   * the connection's own address.
   */
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
}

export type ProxyParse =
  | { kind: 'header'; header: ProxyHeader }
  /** Every byte so far fits a header: wait for more. */
  | { kind: 'incomplete' }
  /** The stream starts with neither signature: the client sent no PROXY header at all. */
  | { kind: 'not-proxy' }
  /** A PROXY header, but a broken one; `tooLong` when it is past the size a header may have. */
  | { kind: 'invalid'; reason: string; tooLong: boolean };

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The spec's bound for a v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses and ports). */
export const V1_MAX_LENGTH = 107;
const V2_FIXED_LENGTH = 16;
/**
 * Address block plus TLVs a v2 header may carry here. The spec lets a receiver refuse what it cannot hold; 216
 * bytes of UNIX addresses plus the TLVs balancers add (SSL details, AWS/Azure/GCP endpoint ids, a few hundred
 * bytes) fit easily, and no header may make a connection hold more than this before it has even started.
 */
export const V2_MAX_PAYLOAD = 2048;
/** The most bytes a header can take: a reader that holds this many without a verdict has a bug. */
export const MAX_HEADER_LENGTH = V2_FIXED_LENGTH + V2_MAX_PAYLOAD;

/**
 * Whether the stream starts with a PROXY signature: 'v1' / 'v2' as soon as the whole signature is there, 'none'
 * as soon as a byte departs from both, 'undecided' while the bytes so far are the start of one.
 */
export function proxySignature(bytes: Buffer): 'v1' | 'v2' | 'none' | 'undecided' {
  const v1 = startsWith(bytes, V1_SIGNATURE);
  const v2 = startsWith(bytes, V2_SIGNATURE);
  if (v1 === 'yes') return 'v1';
  if (v2 === 'yes') return 'v2';
  return v1 === 'prefix' || v2 === 'prefix' ? 'undecided' : 'none';
}

/** Reads a header at the start of `bytes` (everything received so far). Never throws, whatever the input. */
export function parseProxyHeader(bytes: Buffer): ProxyParse {
  switch (proxySignature(bytes)) {
    case 'none':
      return { kind: 'not-proxy' };
    case 'undecided':
      return { kind: 'incomplete' };
    case 'v1':
      return parseV1(bytes);
    case 'v2':
      return parseV2(bytes);
  }
}

function invalid(reason: string, tooLong = false): ProxyParse {
  return { kind: 'invalid', reason, tooLong };
}

// ---- version 1: one text line ----

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function parseV1(bytes: Buffer): ProxyParse {
  const window = bytes.subarray(0, V1_MAX_LENGTH);
  const newline = window.indexOf(0x0a);
  if (newline < 0) {
    if (bytes.length >= V1_MAX_LENGTH) return invalid(`v1 header without CRLF in its first ${V1_MAX_LENGTH} bytes`, true);
    // A CR must be the last byte so far (the first half of the CRLF), never inside the line.
    const cr = window.indexOf(0x0d);
    if (cr >= 0 && cr !== window.length - 1) return invalid('v1 header with a CR inside the line');
    return { kind: 'incomplete' };
  }
  if (newline === 0 || window[newline - 1] !== 0x0d) return invalid('v1 header ending in a bare LF (expected CRLF)');
  const line = window.toString('latin1', 0, newline - 1);
  if (line.includes('\r')) return invalid('v1 header with a CR inside the line');
  const length = newline + 1;
  const fields = line.split(' ');
  const protocol = fields[1];
  // UNKNOWN: the balancer could not or would not say (a health check); the rest of the line is to be ignored.
  if (protocol === 'UNKNOWN') return { kind: 'header', header: { version: 1, length, source: null, destination: null } };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid(`v1 header with protocol "${printable(protocol ?? '')}" (expected TCP4, TCP6 or UNKNOWN)`);
  if (fields.length !== 6) return invalid(`v1 ${protocol} header with ${fields.length - 2} fields (expected 4, separated by single spaces)`);
  const [, , sourceIp = '', destinationIp = '', sourcePort = '', destinationPort = ''] = fields;
  const family = protocol === 'TCP4' ? 4 : 6;
  for (const ip of [sourceIp, destinationIp]) {
    if (!isPlainIp(ip, family)) return invalid(`v1 ${protocol} header with "${printable(ip)}", which is not an IPv${family} address`);
  }
  for (const port of [sourcePort, destinationPort]) {
    if (!PORT.test(port) || Number(port) > 65535) return invalid(`v1 header with port "${printable(port)}" (expected 0 to 65535)`);
  }
  return {
    kind: 'header',
    header: {
      version: 1,
      length,
      source: { ip: canonicalIp(sourceIp), port: Number(sourcePort) },
      destination: { ip: canonicalIp(destinationIp), port: Number(destinationPort) },
    },
  };
}

/** An address as the spec writes them: no zone index ("%eth0"), no brackets, of the family the protocol names. */
function isPlainIp(ip: string, family: 4 | 6): boolean {
  if (ip.length === 0 || ip.length > 45 || ip.includes('%')) return false;
  return family === 4 ? net.isIPv4(ip) : net.isIPv6(ip);
}

/** For error messages: the header's own bytes, without control characters, and short. */
function printable(text: string): string {
  const shown = text.replace(/[^\x20-\x7e]/g, '?');
  return shown.length > 50 ? `${shown.slice(0, 50)}...` : shown;
}

// ---- version 2: binary ----

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
/** Address block sizes by family (high nibble of byte 13): INET, INET6, UNIX. */
const ADDRESS_BYTES: Record<number, number> = { 0x1: 12, 0x2: 36, 0x3: 216 };

function parseV2(bytes: Buffer): ProxyParse {
  // Each field is checked as soon as it has arrived, so a broken header is refused without waiting for the rest.
  if (bytes.length <= 12) return { kind: 'incomplete' };
  const versionCommand = bytes[12] as number;
  if (versionCommand >> 4 !== 2) return invalid(`v2 header with version ${versionCommand >> 4} (expected 2)`);
  const command = versionCommand & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return invalid(`v2 header with command ${command} (expected 0 LOCAL or 1 PROXY)`);
  if (bytes.length <= 13) return { kind: 'incomplete' };
  const familyTransport = bytes[13] as number;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  // LOCAL: the spec says to ignore the family byte and the address block, whatever they hold.
  if (command === COMMAND_PROXY) {
    if (family > 0x3 || transport > 0x2 || (family === 0) !== (transport === 0)) {
      return invalid(`v2 header with address family and transport 0x${hex(familyTransport)} (not one the spec defines)`);
    }
    if (transport === 0x2) return invalid('v2 header for a datagram (UDP) connection on a TCP listener');
  }
  if (bytes.length < V2_FIXED_LENGTH) return { kind: 'incomplete' };
  const payload = bytes.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD) return invalid(`v2 header of ${V2_FIXED_LENGTH + payload} bytes (at most ${MAX_HEADER_LENGTH} accepted)`, true);
  const needed = command === COMMAND_PROXY ? (ADDRESS_BYTES[family] ?? 0) : 0;
  if (payload < needed) return invalid(`v2 header with a ${payload}-byte address block (family 0x${hex(familyTransport)} needs ${needed})`);
  const length = V2_FIXED_LENGTH + payload;
  if (bytes.length < length) return { kind: 'incomplete' };
  // TLVs after the addresses (SSL details, unique ids, cloud endpoint ids) say nothing Relais uses: skipped.
  if (command === COMMAND_LOCAL || family === 0x0 || family === 0x3) {
    return { kind: 'header', header: { version: 2, length, source: null, destination: null } };
  }
  const block = bytes.subarray(V2_FIXED_LENGTH, length);
  const size = family === 0x1 ? 4 : 16;
  const ports = 2 * size;
  return {
    kind: 'header',
    header: {
      version: 2,
      length,
      source: { ip: formatIp(block.subarray(0, size)), port: block.readUInt16BE(ports) },
      destination: { ip: formatIp(block.subarray(size, 2 * size)), port: block.readUInt16BE(ports + 2) },
    },
  };
}

function formatIp(address: Buffer): string {
  if (address.length === 4) return address.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(address.readUInt16BE(i).toString(16));
  return canonicalIp(groups.join(':'));
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}

function startsWith(bytes: Buffer, signature: Buffer): 'yes' | 'prefix' | 'no' {
  const n = Math.min(bytes.length, signature.length);
  if (bytes.compare(signature, 0, n, 0, n) !== 0) return 'no';
  return n === signature.length ? 'yes' : 'prefix';
}
