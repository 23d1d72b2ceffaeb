import type { Command } from 'commander';
import type { Listing } from '../../store/blocklists.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printTable, when } from '../output.js';

/** The blocklist state of one domain across the monitored zones, in a few words. */
function domainState(listings: readonly Listing[], zones: readonly string[]): { state: string; zones: { zone: string; listed: boolean; reason: string | null; error: string | null }[] } {
  const own = listings.filter((l) => zones.includes(l.zone));
  const listed = own.filter((l) => l.listed);
  const state = zones.length === 0 ? 'not monitored' : listed.length ? `listed (${listed.map((l) => `${l.zone}: ${l.reason ?? l.code}`).join('; ')})` : own.length === 0 ? 'not checked yet' : own.some((l) => l.error) ? 'clear (some lookups failed)' : 'clear';
  return { state, zones: own.map((l) => ({ zone: l.zone, listed: l.listed, reason: l.reason, error: l.error })) };
}

export function registerDomainCommands(program: Command): void {
  command(program, 'domains <username>', 'the domains a credential sends from (envelope sender, From header): first and last use, blocklist state').action(
    async (username: string, options: CommonOptions) => {
      await withServices(options, async ({ accounts, store, config }) => {
        const credential = await accounts.credential(username);
        const domains = await store.blocklists.senderDomains(credential.id);
        const listings = await store.blocklists.domainListings(domains.map((d) => d.domain));
        const rows = domains.map((d) => ({ domain: d.domain, first: d.firstUsedAt, last: d.lastUsedAt, ...domainState(listings.filter((l) => l.subject === d.domain), config.dnsbl.domain_zones) }));
        if (options.json) {
          return printJson(rows.map((r) => ({ domain: r.domain, first_use: isoOrNull(r.first), last_use: isoOrNull(r.last), blocklist: r.state, zones: r.zones })));
        }
        printTable(['DOMAIN', 'FIRST USE', 'LAST USE', 'BLOCKLIST'], rows.map((r) => [r.domain, when(r.first), when(r.last), r.state]));
      });
    },
  );
}
