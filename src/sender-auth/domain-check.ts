import { spf } from 'mailauth/lib/spf/index.js';
import type { DkimKeyRecord } from '../store/dkim-keys.js';
import { dkimTxtValue } from './dkim-keys.js';
import { InputError } from '../accounts/validation.js';
import type { RelaisConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { TxtLookup } from './dns-txt.js';
import { spfRootName } from './spf-record.js';

/**
 * `relais domain check D`: is the customer's domain ready to send through the relay? Three checks, each with a
 * verdict and, when it is not `pass`, what to publish.
 */
export interface DomainCheck {
  check: 'spf' | 'dkim' | 'dmarc';
  verdict: string;
  pass: boolean;
  detail: string;
  /** What to do (publish, change), when the check does not pass. */
  action: string | null;
}

export interface DomainReport {
  domain: string;
  pass: boolean;
  checks: DomainCheck[];
}

export interface DomainCheckInput {
  domain: string;
  /** The relay's SPF record name customers include (spfRootName). */
  spfRoot: string;
  /** The addresses mail leaves from, with the EHLO each uses; for each the domain's SPF is evaluated. */
  outbound: { address: string; ehlo: string }[];
  hostname: string;
  dkimKey: DkimKeyRecord | undefined;
  dns: TxtLookup;
}

export async function checkDomain(input: DomainCheckInput): Promise<DomainReport> {
  const checks = [await checkSpf(input), await checkDkim(input), await checkDmarc(input)];
  return { domain: input.domain, pass: checks.every((c) => c.pass), checks };
}

const result = (check: DomainCheck['check'], verdict: string, detail: string, action: string | null = null): DomainCheck => ({
  check,
  verdict,
  pass: verdict === 'pass',
  detail,
  action,
});

/** D's SPF with include:ROOT added before its `all` (or redirect=), or a new record if it has none. */
export function spfWithInclude(record: string | null, root: string): string {
  if (record === null) return `v=spf1 include:${root} ~all`;
  const terms = record.trim().split(/\s+/);
  const at = terms.findIndex((t) => /^[-~?+]?all$/i.test(t) || /^redirect=/i.test(t));
  if (at < 0) terms.push(`include:${root}`);
  else terms.splice(at, 0, `include:${root}`);
  return terms.join(' ');
}

async function checkSpf(input: DomainCheckInput): Promise<DomainCheck> {
  const { domain, spfRoot } = input;
  const answer = await input.dns.txt(domain);
  if (answer.kind === 'error') return result('spf', 'error', `DNS lookup of ${domain} TXT failed (${answer.error})`, 'check dns.servers and try again');
  const records = answer.kind === 'records' ? answer.records.filter((r) => /^v=spf1(\s|$)/i.test(r.trim())) : [];
  const publish = (value: string) => `publish at ${domain}: TXT "${value}"`;
  if (records.length === 0) {
    return result('spf', 'none', `${domain} publishes no SPF record`, publish(spfWithInclude(null, spfRoot)));
  }
  if (records.length > 1) {
    return result('spf', 'multiple-records', `${domain} publishes ${records.length} SPF records, which makes SPF fail (RFC 7208 4.5)`, `merge them into one that includes include:${spfRoot}`);
  }
  const record = records[0] as string;
  const includes = record.toLowerCase().split(/\s+/).some((t) => /^\+?include:/.test(t) && t.replace(/^\+?include:/, '').replace(/\.$/, '') === spfRoot);
  const failing: string[] = [];
  let worst: { result: string; comment: string } | null = null;
  for (const { address, ehlo } of input.outbound) {
    const evaluation = await spf({ sender: `postmaster@${domain}`, ip: address, helo: ehlo, mta: input.hostname, resolver: input.dns.resolve });
    if (evaluation.status.result === 'pass') continue;
    failing.push(address);
    worst ??= { result: evaluation.status.result, comment: evaluation.status.comment ?? evaluation.info };
  }
  if (!worst) return result('spf', 'pass', `"${record}" authorises all ${input.outbound.length} outbound address(es) of the relay`);
  const which = `${failing.length} of ${input.outbound.length} outbound address(es) (${failing.slice(0, 5).join(', ')}${failing.length > 5 ? ', ...' : ''})`;
  if (worst.result === 'permerror' && /too many dns requests|too many void/i.test(worst.comment)) {
    return result(
      'spf',
      'too-many-lookups',
      `"${record}" needs more than the 10 DNS lookups SPF allows (${worst.comment}): receivers treat it as an error`,
      `flatten ${domain}'s record (replace includes of services no longer used, or name their addresses with ip4:/ip6:) so that include:${spfRoot} fits in 10 lookups`,
    );
  }
  if (worst.result === 'temperror') return result('spf', 'error', `SPF evaluation failed for ${which}: ${worst.comment}`, 'try again; if it persists, check the DNS of the names the record includes');
  if (worst.result === 'permerror') return result('spf', 'invalid', `"${record}" is not a valid SPF record: ${worst.comment}`, publish(spfWithInclude(null, spfRoot)));
  if (includes) {
    return result(
      'spf',
      'relay-record-stale',
      `${domain} includes ${spfRoot}, but SPF does not pass for ${which}: the relay's published record does not list them`,
      `publish the records printed by "relais spf" (the relay's record is out of date)`,
    );
  }
  if (worst.result === 'fail') {
    return result(
      'spf',
      'all-conflict',
      `"${record}" ends in -all without including the relay: receivers may reject mail sent through it (SPF fail for ${which})`,
      publish(spfWithInclude(record, spfRoot)),
    );
  }
  return result('spf', 'missing-include', `"${record}" does not authorise the relay (SPF ${worst.result} for ${which})`, publish(spfWithInclude(record, spfRoot)));
}

/** Tags of a DKIM key record (RFC 6376 3.6.1), names lower case, white space removed from values. */
function tags(record: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) map.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return map;
}

async function checkDkim(input: DomainCheckInput): Promise<DomainCheck> {
  const key = input.dkimKey;
  if (!key) return result('dkim', 'no-key', `Relais holds no DKIM key for ${input.domain}: its mail goes out unsigned`, `run "relais dkim add ${input.domain}" and publish the record it prints`);
  const name = `${key.selector}._domainkey.${input.domain}`;
  const expected = dkimTxtValue(key.algorithm, key.publicKey);
  const publish = `publish at ${name}: TXT "${expected}" (as printed by "relais dkim list")`;
  const answer = await input.dns.txt(name);
  if (answer.kind === 'error') return result('dkim', 'error', `DNS lookup of ${name} TXT failed (${answer.error})`, 'check dns.servers and try again');
  const records = answer.kind === 'records' ? answer.records.filter((r) => tags(r).has('p')) : [];
  if (records.length === 0) return result('dkim', 'missing', `no DKIM key record at ${name}: receivers cannot verify the relay's signatures`, publish);
  const published = tags(records[0] as string);
  const p = published.get('p') ?? '';
  if (p === '') return result('dkim', 'revoked', `the key at ${name} is revoked (empty p=)`, publish);
  const k = (published.get('k') ?? 'rsa').toLowerCase();
  if (p !== key.publicKey || k !== key.algorithm) {
    return result('dkim', 'mismatch', `${name} publishes a different key than the one Relais signs with: signatures fail`, publish);
  }
  return result('dkim', 'pass', `${name} publishes the ${key.algorithm} key Relais signs ${input.domain}'s mail with`);
}

async function checkDmarc(input: DomainCheckInput): Promise<DomainCheck> {
  const name = `_dmarc.${input.domain}`;
  const suggestion = `publish at ${name}: TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@${input.domain}", then move to p=quarantine or p=reject once reports show only legitimate mail`;
  const answer = await input.dns.txt(name);
  if (answer.kind === 'error') return result('dmarc', 'error', `DNS lookup of ${name} TXT failed (${answer.error})`, 'check dns.servers and try again');
  const records = answer.kind === 'records' ? answer.records.filter((r) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(r.trim())) : [];
  if (records.length === 0) return result('dmarc', 'missing', `${input.domain} publishes no DMARC record`, suggestion);
  if (records.length > 1) return result('dmarc', 'invalid', `${name} holds ${records.length} DMARC records: receivers ignore them all (RFC 7489 6.6.3)`, 'keep one');
  const policy = (tags(records[0] as string).get('p') ?? '').toLowerCase();
  if (!['none', 'quarantine', 'reject'].includes(policy)) {
    return result('dmarc', 'invalid', `${name} has no valid policy (p=${policy || 'missing'})`, suggestion);
  }
  const meaning = { none: 'receivers only report', quarantine: 'receivers file failing mail as spam', reject: 'receivers refuse failing mail' }[policy as 'none' | 'quarantine' | 'reject'];
  return result('dmarc', 'pass', `policy ${policy}: ${meaning}`);
}

/** Where mail leaves from: outbound.ips, or what the relay's host name resolves to when the system picks the address. */
export async function outboundAddresses(config: RelaisConfig, dns: TxtLookup): Promise<{ address: string; ehlo: string }[]> {
  if (config.outbound.ips.length > 0) return config.outbound.ips.map((ip) => ({ address: ip.address, ehlo: ip.ehlo ?? config.hostname }));
  const found: string[] = [];
  for (const family of ['resolve4', 'resolve6'] as const) {
    found.push(...(await dns.resolver[family](config.hostname).catch(() => [] as string[])));
  }
  if (found.length === 0) {
    throw new InputError(`no outbound.ips configured and ${config.hostname} resolves to no address: list the relay's public addresses in outbound.ips to check SPF against them`);
  }
  return found.map((address) => ({ address, ehlo: config.hostname }));
}

/** The check of `domain` against this relay: its SPF record name, outbound addresses and the DKIM key it holds. */
export async function checkRelayDomain(config: RelaisConfig, store: Store, domain: string): Promise<DomainReport> {
  const dns = new TxtLookup(config.dns.servers, config.dns.timeout);
  return checkDomain({
    domain,
    spfRoot: spfRootName(config),
    outbound: await outboundAddresses(config, dns),
    hostname: config.hostname,
    dkimKey: await store.dkim.find(domain),
    dns,
  });
}
