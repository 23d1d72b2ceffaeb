import net from 'node:net';
import os from 'node:os';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';
import { FEE_FORMAT_HINT, FEE_PATTERN } from '../reputation/fees.js';
import { cipherListProblem, TLS_MIN_VERSIONS } from '../submission/tls-context.js';

/**
 * Every setting of Relais, its default and what it does. The configuration table of README.md is the readable form of this file;
 * keep both in step.
 */

const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      try {
        return typeof value === 'number' ? value * 1000 : parseDuration(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const size = (fallback: string | number) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      try {
        return parseSize(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const ENDPOINT = /^(?:\[([^\]]+)\]|([^:\s\[\]]+)):(\d{1,5})$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** "address:port" with a real IP (IPv6 in brackets) or host name, and a port 0-65535 (0: any free port). */
function validEndpoint(value: string): boolean {
  const match = ENDPOINT.exec(value);
  if (!match) return false;
  const port = Number(match[3]);
  if (port > 65535) return false;
  if (match[1] !== undefined) return net.isIPv6(match[1]);
  const host = match[2] as string;
  return net.isIPv4(host) || (!/^[\d.]+$/.test(host) && HOSTNAME.test(host));
}

const fee = z.string().regex(FEE_PATTERN, FEE_FORMAT_HINT);

const endpoint = z.string().refine(validEndpoint, 'expected "address:port" (a port up to 65535), for example "0.0.0.0:587" or "[::]:587"');
function validDnsServer(value: string): boolean {
  if (net.isIP(value)) return true;
  const match = /^(?:\[([^\]]+)\]|([\d.]+)):(\d{1,5})$/.exec(value);
  if (!match || Number(match[3]) < 1 || Number(match[3]) > 65535) return false;
  return match[1] !== undefined ? net.isIPv6(match[1]) : net.isIPv4(match[2] as string);
}

const endpoints = (fallback: string[]) => z.array(endpoint).default(fallback);

const outboundIp = z.strictObject({
  address: z.string().refine((value) => net.isIP(value) !== 0, 'expected an IPv4 or IPv6 address of this machine, for example "192.0.2.10"'),
  ehlo: z.string().min(1).optional(),
});

const tlsPolicy = z.enum(['may', 'encrypt']);

const cidr = z.string().refine((value) => {
  const [address = '', bits, ...extra] = value.split('/');
  if (extra.length) return false;
  const family = net.isIP(address);
  if (!family) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'expected an address or a network in CIDR form, for example "192.0.2.10" or "10.0.0.0/8"');

/** A node's name for its leases: letters, digits, dot, dash, underscore; `/` separates it from the process instance. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const configSchema = z.strictObject({
  hostname: z.string().min(1).default(os.hostname()),
  node: z
    .strictObject({
      // Stable across restarts (so a restart frees what the crashed process held) and unique in a cluster.
      name: z
        .string()
        .regex(NODE_NAME, 'expected a name of letters, digits, ".", "-" or "_" (at most 100), unique among the nodes sharing the store')
        .default(os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'relais'),
    })
    .prefault({}),
  data_dir: z.string().min(1).default('./data'),
  store: z
    .strictObject({
      url: z
        .string()
        .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'expected "sqlite:PATH" or "postgres://user@host:port/database"')
        .optional(),
    })
    .prefault({}),
  listen: z
    .strictObject({
      submission: endpoints(['127.0.0.1:2587']),
      smtps: endpoints(['127.0.0.1:2465']),
      smtp: endpoints(['127.0.0.1:2525']),
    })
    .prefault({}),
  tls: z
    .strictObject({
      cert: z.string().optional(),
      key: z.string().optional(),
      min_version: z.enum(TLS_MIN_VERSIONS, { error: `expected one of ${TLS_MIN_VERSIONS.join(', ')} (below TLSv1.2 is discouraged)` }).default('TLSv1.2'),
      ciphers: z
        .string()
        .optional()
        .superRefine((value, ctx) => {
          const problem = value === undefined ? null : cipherListProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
    })
    .superRefine((t, ctx) => {
      // OpenSSL 3 allows TLS 1.0/1.1 only at security level 0, and none of the default (AEAD) suites exist before 1.2.
      if ((t.min_version === 'TLSv1' || t.min_version === 'TLSv1.1') && !/@SECLEVEL=0/i.test(t.ciphers ?? '')) {
        ctx.addIssue({
          code: 'custom',
          path: ['min_version'],
          message: `${t.min_version} needs tls.ciphers with suites that version can use, including @SECLEVEL=0 (OpenSSL 3 refuses TLS before 1.2 otherwise), for example "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:@SECLEVEL=0"`,
        });
      }
    })
    .prefault({}),
  submission: z
    .strictObject({
      max_message_size: size('25MB'),
      max_recipients: z.number().int().positive().default(100),
      max_line_length: z.number().int().nonnegative().default(998),
      max_command_length: z.number().int().min(512).default(4096),
      reject_bare_newlines: z.boolean().default(true),
      allow_plain_auth_on_loopback: z.boolean().default(false),
      received_shows_credential: z.boolean().default(false),
      idle_timeout: duration('5m'),
      tls_handshake_timeout: duration('10s'),
      max_connections: z.number().int().positive().default(2000),
      max_connections_per_ip: z.number().int().positive().default(50),
      max_connection_rate_per_ip: z.number().int().positive().default(300),
      connection_limit_exceptions: z.array(cidr).default([]),
      max_errors: z.number().int().positive().default(20),
      max_junk_commands: z.number().int().nonnegative().default(100),
    })
    .prefault({}),
  auth: z
    .strictObject({
      max_failures_per_ip: z.number().int().positive().default(10),
      max_failures_per_user: z.number().int().positive().default(30),
      failure_window: duration('15m'),
      block_for: duration('15m'),
      max_parallel_per_ip: z.number().int().positive().default(2),
      cache_ttl: duration('5m'),
    })
    .prefault({}),
  quota: z
    .strictObject({
      window: duration('24h'),
      reservation_ttl: duration('1h'),
    })
    .prefault({}),
  queue: z
    .strictObject({
      retry_every: duration('15m'),
      give_up_after: duration('7d'),
      delay_notice_after: duration('60m'),
      commit_batch_max: z.number().int().positive().default(500),
      scan_interval: duration('1s'),
      lease_time: duration('1m'),
      claim_batch: z.number().int().positive().default(200),
    })
    .prefault({}),
  delivery: z
    .strictObject({
      enabled: z.boolean().default(true),
      keep_log_for: duration('30d'),
      stop_grace: duration('30s'),
    })
    .prefault({}),
  dns: z
    .strictObject({
      servers: z.array(z.string().refine(validDnsServer, 'expected "IP" or "IP:port" (IPv6 with a port as "[IP]:port"), for example "127.0.0.1:53"')).default([]),
      timeout: duration('5s'),
    })
    .prefault({}),
  outbound: z
    .strictObject({
      port: z.number().int().min(1).max(65535).default(25),
      ips: z.array(outboundIp).default([]),
      connections_per_host: z.number().int().positive().default(5),
      max_connections: z.number().int().positive().default(100),
      avoid_ip_for: duration('1h'),
      tls: tlsPolicy.default('may'),
      tls_policies: z.record(z.string(), tlsPolicy).default({}),
      ip_block_patterns: z.array(z.string()).optional(),
      messages_per_connection: z.number().int().positive().default(100),
      idle_connection_timeout: duration('5s'),
      // Off: address literals and MX hosts on loopback, private or other non-public ranges are refused (routes stay allowed).
      allow_private_destinations: z.boolean().default(false),
      timeouts: z
        .strictObject({
          // RFC 5321 4.5.3.2 where it names one; each governs its own stage only, and is a deadline for the
          // whole reply, however slowly a server trickles its lines.
          connect: duration('30s'),
          greeting: duration('5m'),
          command: duration('5m'),
          tls_handshake: duration('1m'),
          data_start: duration('2m'),
          data_end: duration('10m'),
        })
        .prefault({}),
    })
    .prefault({}),
  routes: z.record(z.string(), endpoint).default({}),
  notices: z
    .strictObject({
      delay: z.boolean().default(true),
      failure: z.boolean().default(true),
    })
    .prefault({}),
  // The price list of staff work, recorded as charges when staff reinstate a suspended credential (README: Fees).
  fees: z
    .strictObject({
      reinstatement: fee.optional(),
      blocklist_removal: fee.optional(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['json', 'pretty']).default('json'),
    })
    .prefault({}),
});

export type RelaisConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;
/** The validated configuration, with the store URL resolved against data_dir. */
export type RelaisConfig = Omit<Parsed, 'store'> & { store: { url: string } };
