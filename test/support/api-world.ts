import fs from 'node:fs';
import path from 'node:path';
import { startTestRelay, type StoreKind, type TestRelay } from './relay-fixture.js';
import { runCli } from './relay-process.js';
import { sendWithNodemailer } from './smtp-clients.js';
import type { RelaisConfigInput } from '../../src/config/schema.js';
import { startDns, type DnsPeer } from '../peers/dns.js';
import { startDnsbl, type DnsblPeer } from '../peers/dnsbl.js';
import { waitUntil } from '../peers/process.js';

/**
 * A relay with its console, two customers who each sent mail over SMTP, and tokens: what the API tests share.
 * Its DNS is a real server (unbound) on the same loopback address: alpha.test publishes SPF including the relay,
 * the DKIM key Relais holds for it (selector relais1) and DMARC; beta.test publishes nothing.
 */

export interface Party {
  customer: string;
  username: string;
  password: string;
  sender: string;
  recipients: string[];
  /** The queue id of the message it sent (from the 250 reply). */
  queueId: string;
  /** Its Message-ID header, brackets included. */
  headerMessageId: string;
  token: string;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export interface CallOptions {
  token?: string | null;
  query?: Record<string, string>;
  body?: unknown;
  raw?: Buffer;
  /** Content-Type of a raw body (default message/rfc822). */
  contentType?: string;
}

export interface ApiWorld {
  t: TestRelay;
  /** http://address:port */
  origin: string;
  staffToken: string;
  a: Party;
  b: Party;
  configFile: string;
  dns: DnsPeer;
  /** /api/v1 + path (already filled in), with a bearer token and a JSON or raw body. */
  call(method: string, apiPath: string, options?: CallOptions): Promise<ApiAnswer>;
  send(party: Party, to: string[]): Promise<string>;
  stop(): Promise<void>;
}

let serial = 0;

export interface WorldOptions {
  /**
   * An outbound address (never bound: delivery stays off) that a real blocklist (rbldnsd, zone zen.test) lists:
   * the relay's monitor finds it at start, so the outbound addresses have a listing and a history.
   */
  listedOutboundIp?: string;
}

export async function startApiWorld(store: StoreKind, address: string, overrides: RelaisConfigInput = {}, options: WorldOptions = {}): Promise<ApiWorld> {
  let dnsbl: DnsblPeer | undefined;
  let blocklisting: RelaisConfigInput = {};
  if (options.listedOutboundIp) {
    dnsbl = await startDnsbl({ address, zones: { 'zen.test': { ips: [options.listedOutboundIp] } } });
    blocklisting = { outbound: { ips: [{ address: options.listedOutboundIp }] }, dnsbl: { ip_zones: ['zen.test'] } };
  }
  const dns = await startDns({ address, zones: {}, forward: dnsbl ? [{ zone: 'zen.test', address: dnsbl.address, port: dnsbl.port }] : [] });
  const t = await startTestRelay({
    store,
    address,
    overrides: { ...overrides, ...blocklisting, dns: { servers: [dns.server] }, listen: { console: [`${address}:0`] } },
  });
  const origin = `http://${address}:${t.port('console')}`;
  const configFile = path.join(t.dir, 'relais.yaml');
  // What the CLI needs of the relay's configuration: its store, its DNS and outbound addresses (domain checks).
  const cliConfig = ['hostname: relay.test', `data_dir: ${t.dir}`, `store: { url: "${t.config.store.url}" }`, `dns: { servers: ["${dns.server}"] }`];
  if (options.listedOutboundIp) cliConfig.push(`outbound: { ips: [{ address: "${options.listedOutboundIp}" }] }`, 'dnsbl: { ip_zones: ["zen.test"] }');
  fs.writeFileSync(configFile, cliConfig.join('\n'));
  // The staff token as operators make it: the relais command, which prints it once.
  const made = await runCli(['token', 'add', '--name', 'ops-api', '--json', '--config', configFile]);
  if (made.code !== 0) throw new Error(`relais token add failed: ${made.stderr}`);
  const staffToken = (JSON.parse(made.stdout) as { token: string }).token;

  const send = async (party: Pick<Party, 'username' | 'password' | 'sender'>, to: string[]): Promise<string> => {
    const info = await sendWithNodemailer({ host: address, port: t.port('submission'), username: party.username, password: party.password, from: party.sender, to, subject: 'API test' });
    const match = /queued as (\S+)/.exec(info.response);
    if (!match) throw new Error(`no queue id in "${info.response}"`);
    return match[1] as string;
  };

  const party = async (label: string, domain: string): Promise<Party> => {
    const customer = `${label} Co ${process.pid}-${++serial}`;
    await t.relay.accounts.addCustomer(customer, `contact@${domain}`);
    const { credential, password } = await t.relay.accounts.addCredential(customer);
    await t.relay.accounts.addPlan(credential.username, { quota: 1000 });
    const sender = `news@${domain}`;
    const recipients = [`first.${label.toLowerCase()}@example.test`, `second.${label.toLowerCase()}@example.net`];
    const queueId = await send({ username: credential.username, password, sender }, recipients);
    const message = await t.relay.store.findMessage(queueId);
    const token = (await t.relay.tokens.add(`${label.toLowerCase()}-app`, customer)).secret;
    return { customer, username: credential.username, password, sender, recipients, queueId, headerMessageId: message?.headerMessageId ?? '', token };
  };

  const a = await party('Alpha', 'alpha.test');
  const b = await party('Beta', 'beta.test');
  // Sender domains are recorded after the 250, in batches: wait for both.
  for (const p of [a, b]) {
    const id = (await t.relay.store.findCredential(p.username))?.id ?? 0;
    await waitUntil(`${p.sender} recorded as a sender domain`, async () => (await t.relay.store.blocklists.senderDomains(id)).length > 0, { timeoutMs: 10_000 });
  }
  const key = await t.relay.dkim.add('alpha.test', { selector: 'relais1', algorithm: 'ed25519' });
  await dns.setZones({
    'relay.test': { a: [address] },
    '_spf.relay.test': { txt: [`v=spf1 ip4:${options.listedOutboundIp ?? address} -all`] },
    'alpha.test': { txt: ['v=spf1 include:_spf.relay.test -all'] },
    [key.view.dnsName]: { txt: [key.view.txt] },
    '_dmarc.alpha.test': { txt: ['v=DMARC1; p=reject'] },
  });
  if (options.listedOutboundIp) {
    await waitUntil(`${options.listedOutboundIp} listed by the relay's monitor`, async () => (await t.relay.store.blocklists.listedIps()).length > 0, { timeoutMs: 20_000 });
  }

  return {
    t,
    origin,
    staffToken,
    a,
    b,
    configFile,
    dns,
    send,
    async call(method, apiPath, options = {}) {
      const url = new URL(`/api/v1${apiPath}`, origin);
      for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string> = {};
      const token = options.token === undefined ? staffToken : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | Uint8Array<ArrayBuffer> | undefined;
      if (options.raw) {
        headers['content-type'] = options.contentType ?? 'message/rfc822';
        body = new Uint8Array(options.raw);
      } else if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(options.body);
      }
      const response = await fetch(url, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // left as text: the test's schema check then fails and shows it
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async stop() {
      await t.stop();
      await dns.stop();
      await dnsbl?.stop();
    },
  };
}

/** An OpenAPI document as the tests read it. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  'x-relais-scope': 'staff' | 'any';
  parameters: { name: string; in: 'path' | 'query'; required: boolean; schema: object }[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: object }> }>;
}

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, object>; securitySchemes: Record<string, object> };
}

export function operations(doc: OpenApiDocument): { method: string; path: string; op: OpenApiOperation }[] {
  return Object.entries(doc.paths).flatMap(([p, item]) => Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path: p, op })));
}

/** The path with its {parameters} filled from `values` (URL-encoded). */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(value);
  });
}
