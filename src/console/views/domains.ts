import { InputError } from '../../accounts/validation.js';
import { domainState, type DomainBlocklistState } from '../../reputation/domain-state.js';
import { checkRelayDomain, type DomainReport } from '../../sender-auth/domain-check.js';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { visibleCredentials } from './own-credentials.js';

export interface SenderDomainRow {
  domain: string;
  /** The viewer's credentials that sent from it, with the customer each belongs to (staff see several). */
  credentials: { username: string; customer: string }[];
  firstUsedAt: number;
  lastUsedAt: number;
  /** The DKIM key Relais signs this domain's mail with, if it holds one. */
  dkim: { selector: string; algorithm: string } | null;
  blocklist: DomainBlocklistState;
}

/**
 * The domains the viewer's credentials send from (envelope sender and From header, as recorded at submission),
 * with what Relais knows without asking DNS: its DKIM key and blocklist state. The SPF/DKIM/DMARC check asks DNS
 * and is run for one domain at a time (`checkSenderDomain`).
 */
export async function senderDomains(services: Services, viewer: Viewer): Promise<SenderDomainRow[]> {
  const byDomain = new Map<string, SenderDomainRow>();
  for (const credential of await visibleCredentials(services, viewer)) {
    for (const use of await services.store.blocklists.senderDomains(credential.id)) {
      const row = byDomain.get(use.domain);
      const who = { username: credential.username, customer: credential.customerName };
      if (row) {
        row.credentials.push(who);
        row.firstUsedAt = Math.min(row.firstUsedAt, use.firstUsedAt);
        row.lastUsedAt = Math.max(row.lastUsedAt, use.lastUsedAt);
      } else {
        byDomain.set(use.domain, {
          domain: use.domain,
          credentials: [who],
          firstUsedAt: use.firstUsedAt,
          lastUsedAt: use.lastUsedAt,
          dkim: null,
          blocklist: { state: 'not checked yet', listed: false, zones: [] },
        });
      }
    }
  }
  const rows = [...byDomain.values()].sort((a, b) => a.domain.localeCompare(b.domain));
  const listings = await services.store.blocklists.domainListings(rows.map((r) => r.domain));
  for (const row of rows) {
    const key = await services.store.dkim.find(row.domain);
    row.dkim = key ? { selector: key.selector, algorithm: key.algorithm } : null;
    row.blocklist = domainState(
      listings.filter((l) => l.subject === row.domain),
      services.config.dnsbl.domain_zones,
    );
  }
  return rows;
}

/**
 * `relais domain check` for one of the viewer's sender domains; undefined when the viewer's credentials never
 * sent from it (so a customer cannot use the console to probe other customers' domains).
 */
export async function checkSenderDomain(services: Services, viewer: Viewer, domain: string): Promise<{ row: SenderDomainRow; report: DomainReport | { error: string } } | undefined> {
  const row = (await senderDomains(services, viewer)).find((r) => r.domain === domain.toLowerCase());
  if (!row) return undefined;
  try {
    const report = await checkRelayDomain(services.config, services.store, row.domain);
    return { row, report };
  } catch (error) {
    if (error instanceof InputError) return { row, report: { error: error.message } };
    throw error;
  }
}
