import net from 'node:net';
import os from 'node:os';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';
import { FEE_FORMAT_HINT, FEE_PATTERN } from '../reputation/fees.js';
import { cipherListProblem, TLS_MIN_VERSIONS } from '../submission/tls-context.js';
import { parseTerm, TERM_HINT } from './term.js';

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

/** A DNS zone to query below: "zen.spamhaus.org", "dbl.example" (no scheme, no trailing data). */
const dnsZone = z
  .string()
  .transform((value) => value.trim().toLowerCase().replace(/\.$/, ''))
  .refine((value) => HOSTNAME.test(value) && value.includes('.'), 'expected a DNS zone name, for example "zen.spamhaus.org"');

const MAILBOX = /^[^\s@<>()",;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
/** Signed by default: what a recipient reads and what identifies the message; never trace headers, which change in transit. */
export const DEFAULT_DKIM_HEADERS = [
  'From', 'Sender', 'Reply-To', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'In-Reply-To', 'References',
  'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding', 'List-Id', 'List-Unsubscribe', 'List-Unsubscribe-Post',
];

/** A DNS owner name, underscores allowed (`_spf.relay.example.net`). */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)+$/;

/** What a node may do: accept mail, deliver it, serve the console and API, run the service's jobs. */
export const NODE_ROLES = ['submission', 'delivery', 'console', 'jobs'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** A node's name for its leases: letters, digits, dot, dash, underscore; `/` separates it from the process instance. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function validTerm(text: string): boolean {
  try {
    parseTerm(text);
    return true;
  } catch {
    return false;
  }
}

export const configSchema = z.strictObject({
  hostname: z.string().min(1).default(os.hostname()),
  node: z
    .strictObject({
      // Stable across restarts (so a restart frees what the crashed process held) and unique in a cluster.
      name: z
        .string()
        .regex(NODE_NAME, 'expected a name of letters, digits, ".", "-" or "_" (at most 100), unique among the nodes sharing the store')
        .default(os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'relais'),
      // What this node does; `relais start --roles` overrides it.
      roles: z
        .array(z.string().refine((r): r is NodeRole => (NODE_ROLES as readonly string[]).includes(r), `expected one of the roles ${NODE_ROLES.join(', ')}`))
        .min(1, `give at least one role of ${NODE_ROLES.join(', ')}`)
        .default([...NODE_ROLES])
        .transform((roles) => [...new Set(roles as NodeRole[])]),
      // How often the node writes its heartbeat (and what it is doing) to the store; it is live for 3 of these.
      heartbeat_interval: duration('5s'),
      // The longest a dead node's service jobs wait before another node takes them over (see JobLeases).
      job_lease_time: duration('30s'),
      // How long the record of job runs (job_runs) is kept.
      keep_job_runs_for: duration('1d'),
    })
    .prefault({}),
  data_dir: z.string().min(1).default('./data'),
  store: z
    .strictObject({
      url: z
        .string()
        .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'expected "sqlite:PATH" or "postgres://user@host:port/database"')
        .optional(),
      // PostgreSQL only. A store that does not answer must turn into a prompt 451 and a paused queue, not into
      // sessions and jobs waiting without end: each wait below has its bound.
      // Opening a connection, and waiting for a free one when all pool_size are busy.
      connect_timeout: duration('5s'),
      // The longest statement (the server cancels it); migrations at start are exempt.
      statement_timeout: duration('60s'),
      // A session left inside a transaction this long (a stalled node holding locks) is ended by the server.
      idle_in_transaction_timeout: duration('60s'),
      // Connections per node; PostgreSQL's max_connections must cover pool_size times the nodes, plus the CLI.
      pool_size: z.number().int().positive().max(1000).default(10),
    })
    .prefault({}),
  listen: z
    .strictObject({
      submission: endpoints(['127.0.0.1:2587']),
      smtps: endpoints(['127.0.0.1:2465']),
      smtp: endpoints(['127.0.0.1:2525']),
      // The HTTP console and API (/api/v1); [] turns it off.
      console: endpoints(['127.0.0.1:8025']),
      // Mail to the relay itself (complaints.address, postmaster@hostname): no AUTH, never relays. Off by default.
      inbound: endpoints([]),
      // Load balancers whose connections to submission, smtps and smtp start with a PROXY protocol header (v1 or
      // v2) naming the real client. Empty: no header is expected from anyone, and none is accepted.
      proxy_from: z.array(cidr).default([]),
      // How long such a connection may take to send its header before it is closed.
      proxy_timeout: duration('5s'),
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
      // How often expired quota buckets and bounce counts are pruned (one node at a time, under a job lease).
      prune_interval: duration('1h'),
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
      // Postfix's defaults: a destination starts with initial_connections_per_host connections at once and earns
      // more as its jobs succeed, up to connections_per_host (initial_destination_concurrency 5,
      // default_destination_concurrency_limit 20).
      connections_per_host: z.number().int().positive().default(20),
      initial_connections_per_host: z.number().int().positive().default(5),
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
  dnsbl: z
    .strictObject({
      // How often every outbound address and every sender domain is looked up in the zones below.
      interval: duration('5m'),
      ip_zones: z.array(dnsZone).default([]),
      domain_zones: z.array(dnsZone).default([]),
      // One lookup's deadline: a zone that does not answer in time is an error, never a listing.
      timeout: duration('5s'),
      concurrency: z.number().int().positive().default(8),
      // How stale each node's view of listings and pinnings may be (it re-reads them from the store this often).
      refresh: duration('5s'),
      // A sender domain's last use is written to the store at most this often per credential (hot path).
      last_use_every: duration('10m'),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      email: z.string().regex(MAILBOX, 'expected an e-mail address, for example "ops@example.org"').optional(),
    })
    .prefault({}),
  notices: z
    .strictObject({
      delay: z.boolean().default(true),
      failure: z.boolean().default(true),
    })
    .prefault({}),
  secrets: z
    .strictObject({
      // 32 random bytes as 64 hex digits; absent: DATA_DIR/secret.key, created (mode 0600) when first needed.
      key_file: z.string().min(1).optional(),
    })
    .prefault({}),
  dkim: z
    .strictObject({
      // How long a running relay keeps a domain's key (or its absence) in memory: `dkim add`/`remove` show within it.
      cache_ttl: duration('1m'),
      headers: z
        .array(z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/, 'expected a header field name, for example "Subject"'))
        .min(1)
        .refine((names) => names.some((n) => n.toLowerCase() === 'from'), 'must include From (RFC 6376 5.4)')
        .refine((names) => !names.some((n) => ['received', 'return-path', 'dkim-signature'].includes(n.toLowerCase())), 'must not include Received, Return-Path or DKIM-Signature, which change in transit')
        .default(DEFAULT_DKIM_HEADERS),
    })
    .prefault({}),
  spf: z
    .strictObject({
      // The name the relay's SPF record is published under; absent: "_spf." + hostname.
      domain: z.string().regex(DNS_NAME, 'expected a DNS name, for example "_spf.relay.example.net"').optional(),
    })
    .prefault({}),
  complaints: z
    .strictObject({
      // Where feedback loops send ARF reports, on listen.inbound: for example "abuse@relay.example".
      address: z
        .string()
        .regex(/^[^\s@"<>()\[\],;:\\]+@[A-Za-z0-9.-]+$/, 'expected a plain address, for example "abuse@relay.example"')
        .transform((value) => value.toLowerCase())
        .optional(),
      // Largest report accepted by HTTP or on listen.inbound (a report carries the whole original message).
      max_report_size: size('10MB'),
    })
    .prefault({}),
  antivirus: z
    .strictObject({
      // Absent: no scanning. "host:port" of a clamd TCPSocket; every message is scanned before its 250.
      clamd: endpoint.optional(),
      // The whole scan, waiting for a free slot included: what clamd may add to a client's wait after DATA.
      timeout: duration('30s'),
      // clamd unreachable, too slow or in error: "tempfail" answers 451 4.3.0; "accept" queues the message with
      // the header X-Relais-Virus-Scan: not scanned.
      on_error: z.enum(['tempfail', 'accept']).default('tempfail'),
      // Keep at or below clamd's StreamMaxLength (25M by default), or big messages meet its size limit error.
      max_size: size('25MB'),
      // Bigger messages: "scan_prefix" scans their first max_size bytes; "refuse" answers 552 5.3.4.
      over_max_size: z.enum(['scan_prefix', 'refuse']).default('scan_prefix'),
      max_concurrent_scans: z.number().int().positive().default(10),
    })
    .prefault({}),
  abuse: z
    .strictObject({
      // Complaints about one credential that suspend it (reason "complaint"); 0 never suspends. The terms: 1.
      complaints_to_suspend: z.number().int().nonnegative().default(1),
      // Complaints count within this window, and only since the credential's last reinstatement.
      complaint_window: duration('30d'),
      // Off unless set: a credential whose failed / attempted recipients over 24 h is above this is suspended (bounces).
      max_bounce_rate: z.number().min(0).max(1).optional(),
      // The rate means nothing on a handful of recipients.
      min_recipients_for_rate: z.number().int().positive().default(200),
      // The window of the rate (and of the notices `relais usage` counts).
      bounce_rate_window: duration('24h'),
      // How often at most one credential's rate is computed again after its deliveries.
      bounce_check_interval: duration('1m'),
    })
    .prefault({}),
  console: z
    .strictObject({
      // A console session ends after this long without a request (sliding), and at the latest after session_max.
      session_idle: duration('2h'),
      session_max: duration('12h'),
      // Secure cookies are only sent over HTTPS (and to loopback addresses): keep true behind a TLS proxy; false
      // only for a console reached over plain HTTP on a trusted network.
      secure_cookies: z.boolean().default(true),
      // Failed sign-ins per client address and per login e-mail within login_failure_window, before a cool-down.
      max_login_failures_per_ip: z.number().int().positive().default(10),
      max_login_failures_per_account: z.number().int().positive().default(5),
      login_failure_window: duration('15m'),
      login_block_for: duration('15m'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      // GET /metrics on listen.console asks for a staff API token (Authorization: Bearer, relais token add) when
      // true. Off by default: the console listens on loopback, and a proxy in front of it can keep /metrics in.
      token_required: z.boolean().default(false),
    })
    .prefault({}),
  // The price list of staff work, recorded as charges when staff reinstate a suspended credential (README: Fees).
  fees: z
    .strictObject({
      reinstatement: fee.optional(),
      blocklist_removal: fee.optional(),
      // Charged when a renewal is validated after the term ended (the credential was suspended "expired").
      late_reinstatement: fee.optional(),
    })
    .prefault({}),
  // What customers subscribe to: a name, a daily quota and a price per term. A subscription adds its quota as a plan.
  offers: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'offer names are 1-40 lower-case letters, digits, _ and -, for example "start"'),
      z.strictObject({ quota: z.number().int().positive(), price: fee }),
    )
    .default({}),
  lifecycle: z
    .strictObject({
      // Length of a term: calendar "1y" or "6mo", or any duration ("10m" in tests).
      term: z.string().default('1y').refine(validTerm, TERM_HINT),
      // When the renewal order is created and mailed, before the end date; renewal is never automatic.
      renewal_notice_before: duration('30d'),
      // A reminder while the renewal order is not validated.
      reminder_before: duration('7d'),
      // A downgrade (effective at the next term) must be asked at least this long before the end date.
      downgrade_notice: duration('5d'),
      // How often the lifecycle job runs (it also runs at start).
      interval: duration('1h'),
    })
    .prefault({}),
  // Who the customer-facing notices and the parameter sheet come from.
  provider: z
    .strictObject({
      name: z.string().min(1).default('Relais'),
      // From address of notices to customers; absent: postmaster@hostname.
      from: z.string().regex(/^[^\s@"<>]+@[A-Za-z0-9.-]+$/, 'expected a plain address, for example "billing@provider.example"').optional(),
      support_email: z.string().regex(/^[^\s@"<>]+@[A-Za-z0-9.-]+$/, 'expected a plain address, for example "support@provider.example"').optional(),
      console_url: z.string().url('expected the console address as customers reach it, for example "https://console.provider.example"').optional(),
      // Language of notices for customers added without --lang.
      language: z.enum(['en', 'fr']).default('en'),
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
export type RelaisConfig = Omit<Parsed, 'store'> & { store: Omit<Parsed['store'], 'url'> & { url: string } };
