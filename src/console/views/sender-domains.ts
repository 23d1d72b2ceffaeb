import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Listing } from '../../store/blocklists.js';
import type { Viewer } from '../viewer.js';
import { isoAt, isoSchema, visibleCredential } from './scope.js';

export const senderDomainSchema = z.object({
  domain: z.string(),
  first_use: isoSchema,
  last_use: isoSchema,
  /** listed, clear, not checked yet, or not monitored (no dnsbl.domain_zones). */
  blocklist: z.enum(['listed', 'clear', 'not_checked', 'not_monitored']),
  zones: z.array(z.object({ zone: z.string(), listed: z.boolean(), reason: z.string().nullable(), error: z.string().nullable() })),
  /** The DKIM key Relais signs this domain's mail with, or null: its mail then leaves unsigned. */
  dkim: z.object({ selector: z.string(), algorithm: z.string(), dns_name: z.string() }).nullable(),
});
export type SenderDomainView = z.infer<typeof senderDomainSchema>;

function blocklistState(own: readonly Listing[], zones: readonly string[]): SenderDomainView['blocklist'] {
  if (zones.length === 0) return 'not_monitored';
  if (own.some((l) => l.listed)) return 'listed';
  return own.length === 0 ? 'not_checked' : 'clear';
}

/**
 * The domains a credential sends from (envelope sender, From header), with their blocklist state and whether
 * Relais holds a DKIM key for them. SPF needs DNS lookups, so it is left to `relais domain check`.
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
