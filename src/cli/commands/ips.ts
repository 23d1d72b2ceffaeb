import net from 'node:net';
import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import { IpPool } from '../../delivery/ip-pool.js';
import type { IpActivity } from '../../store/delivery-records.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printLine, printTable, when } from '../output.js';

export function registerIpCommands(program: Command): void {
  const ip = program.command('ip').description('the outbound IP pool');
  command(ip, 'list', 'each outbound address: state, messages sent over 24 h, last error').action(async (options: CommonOptions) => {
    await withServices(options, async ({ store, clock, config }) => {
      const now = clock.now();
      const pool = IpPool.fromConfig(config.outbound.ips, config.hostname);
      const avoidances = await store.delivery.avoidances(now);
      const activity = await store.delivery.ipActivity(now - 86_400_000);
      // As the relay sees them: zones no longer in dnsbl.ip_zones take nothing out of rotation.
      const listings = (await store.blocklists.listedIps()).filter((l) => config.dnsbl.ip_zones.includes(l.zone));
      const rows = pool.ips.map((entry) => {
        const address = entry.address ?? '(system default)';
        const avoided = avoidances.filter((a) => a.sourceIp === entry.address);
        // Without outbound.ips every attempt left from an address the system chose: all of them are this entry's.
        const act = entry.address === null ? combined(activity) : activity.find((a) => a.sourceIp === entry.address);
        const listed = listings.filter((l) => l.subject === entry.address);
        return {
          address,
          ehlo: entry.ehlo,
          state: listed.length ? 'listed' : avoided.length ? `avoided for ${avoided.length} destination(s)` : 'active',
          listings: listed.map((l) => ({ zone: l.zone, code: l.code, reason: l.reason, since: isoOrNull(l.since) })),
          avoided_for: avoided.map((a) => ({ destination: a.destination, until: isoOrNull(a.until), reason: a.reason })),
          sent_24h: act?.delivered ?? 0,
          last_error: act?.lastError ?? null,
          last_error_at: isoOrNull(act?.lastErrorAt),
        };
      });
      if (options.json) return printJson(rows);
      printTable(
        ['ADDRESS', 'EHLO', 'STATE', 'SENT 24H', 'LAST ERROR'],
        rows.map((r) => [
          r.address,
          r.ehlo,
          r.listings.length ? `listed (${r.listings.map((l) => l.zone).join(', ')})` : r.state,
          r.sent_24h,
          r.last_error ? `${when(Date.parse(r.last_error_at as string))} ${r.last_error}` : '-',
        ]),
      );
      for (const r of rows) for (const l of r.listings) printLine(`  ${r.address} listed in ${l.zone} since ${l.since} (${l.code}): ${l.reason ?? 'no reason given'}`);
      for (const r of rows) for (const a of r.avoided_for) printLine(`  ${r.address} avoided for ${a.destination} until ${a.until} (${a.reason ?? ''})`);
    });
  });
  registerIpHistory(ip);
}

function registerIpHistory(ip: Command): void {
  command(ip, 'history <address>', 'every listing and delisting of an outbound address, oldest first').action(async (address: string, options: CommonOptions) => {
    if (net.isIP(address) === 0) throw new InputError(`"${address}" is not an IP address: give one of the addresses "relais ip list" shows`);
    await withServices(options, async ({ store }) => {
      const events = await store.blocklists.ipEvents(address);
      if (options.json) return printJson(events.map((e) => ({ at: isoOrNull(e.at), event: e.kind, zone: e.zone, code: e.code, reason: e.reason })));
      printTable(['TIME', 'EVENT', 'ZONE', 'CODE', 'REASON'], events.map((e) => [when(e.at), e.kind, e.zone, e.code ?? '-', e.reason ?? '-']));
    });
  });
}

function combined(rows: readonly IpActivity[]): IpActivity | undefined {
  if (rows.length === 0) return undefined;
  const latest = rows.filter((r) => r.lastErrorAt !== null).sort((a, b) => (b.lastErrorAt ?? 0) - (a.lastErrorAt ?? 0))[0];
  return {
    sourceIp: '(system default)',
    delivered: rows.reduce((sum, r) => sum + r.delivered, 0),
    lastError: latest?.lastError ?? null,
    lastErrorAt: latest?.lastErrorAt ?? null,
  };
}
