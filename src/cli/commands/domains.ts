import type { Command } from 'commander';
import { domainState } from '../../reputation/domain-state.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printTable, when } from '../output.js';

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
