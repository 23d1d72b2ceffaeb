import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Listing } from '../../store/blocklists.js';
import type { Viewer } from '../viewer.js';
import { checkRelayDomain } from '../../sender-auth/domain-check.js';
import { isoAt, isoSchema, NotFound, visibleCredential } from './scope.js';

export const senderDomainSchema = z.object({
  domain: z.string(),
  first_use: isoSchema,
  last_use: isoSchema,
  blocklist: z.enum(['listed', 'clear', 'not_checked', 'not_monitored']).describe('listed, clear, not checked yet, or not monitored (no dnsbl.domain_zones).'),
  zones: z.array(z.object({ zone: z.string(), listed: z.boolean(), reason: z.string().nullable(), error: z.string().nullable() })),
  dkim: z.object({ selector: z.string(), algorithm: z.string(), dns_name: z.string() }).nullable().describe('The DKIM key Relais signs this domain\'s mail with, or null: its mail then leaves unsigned.'),
});
export type SenderDomainView = z.infer<typeof senderDomainSchema>;

function blocklistState(own: readonly Listing[], zones: readonly string[]): SenderDomainView['blocklist'] {
  if (zones.length === 0) return 'not_monitored';
  if (own.some((l) => l.listed)) return 'listed';
  return own.length === 0 ? 'not_checked' : 'clear';
}

/**
 * The domains a credential sends from (envelope sender, From header), with their blocklist state and whether
 * Relais holds a DKIM key for them. SPF and the published DKIM record need DNS lookups: see domainCheck.
 */
export async function senderDomains(services: Services, viewer: Viewer, username: string): Promise<SenderDomainView[]> {
  const credential = await visibleCredential(services, viewer, username);
  const { store, config } = services;
  const domains = await store.blocklists.senderDomains(credential.id);
  const listings = await store.blocklists.domainListings(domains.map((d) => d.domain));
  const keys = new Map((await store.dkim.list()).map((k) => [k.domain, k]));
  return domains.map((d) => {
    const own = listings.filter((l) => l.subject === d.domain && config.dnsbl.domain_zones.includes(l.zone));
    const key = keys.get(d.domain);
    return {
      domain: d.domain,
      first_use: isoAt(d.firstUsedAt),
      last_use: isoAt(d.lastUsedAt),
      blocklist: blocklistState(own, config.dnsbl.domain_zones),
      zones: own.map((l) => ({ zone: l.zone, listed: l.listed, reason: l.reason, error: l.error })),
      dkim: key ? { selector: key.selector, algorithm: key.algorithm, dns_name: `${key.selector}._domainkey.${key.domain}` } : null,
    };
  });
}

export const domainCheckSchema = z.object({
  domain: z.string(),
  pass: z.boolean().describe('All three pass: the domain\'s mail leaves the relay authenticated.'),
  checks: z.array(
    z.object({
      check: z.enum(['spf', 'dkim', 'dmarc']),
      verdict: z.string(),
      pass: z.boolean(),
      detail: z.string(),
      action: z.string().nullable().describe('What to publish or change, when it does not pass.'),
    }),
  ),
});
export type DomainCheckView = z.infer<typeof domainCheckSchema>;

/**
 * SPF (does the domain authorise the relay's addresses?), DKIM (is the key Relais signs with published?) and
 * DMARC, looked up in DNS now, as `relais domain check` does. Only for a domain the credential sends from: a
 * customer learns nothing here about domains that are not its own.
 */
export async function domainCheck(services: Services, viewer: Viewer, username: string, domain: string): Promise<DomainCheckView> {
  const credential = await visibleCredential(services, viewer, username);
  const name = domain.trim().replace(/\.$/, '').toLowerCase();
  const used = await services.store.blocklists.senderDomains(credential.id);
  if (!used.some((d) => d.domain === name)) throw new NotFound(`"${username}" has not sent from "${domain}"`);
  return checkRelayDomain(services.config, services.store, name);
}
