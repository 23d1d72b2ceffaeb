import net from 'node:net';
import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import { outboundAddressStates } from '../../delivery/outbound-addresses.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printLine, printTable, when } from '../output.js';

export function registerIpCommands(program: Command): void {
  const ip = program.command('ip').description('the outbound IP pool');
  command(ip, 'list', 'each outbound address of the whole pool: the node that owns it, state, messages sent over 24 h, last error').action(async (options: CommonOptions) => {
    await withServices(options, async (services) => {
      const rows = (await outboundAddressStates(services)).map((a) => ({
        address: a.address ?? '(system default)',
        ehlo: a.ehlo,
        nodes: a.nodes,
        state: a.state === 'avoided' ? `avoided for ${a.avoidedFor.length} destination(s)` : a.state,
        listings: a.listings.map((l) => ({ zone: l.zone, code: l.code, reason: l.reason, since: isoOrNull(l.since) })),
        avoided_for: a.avoidedFor.map((v) => ({ destination: v.destination, until: isoOrNull(v.until), reason: v.reason })),
        sent_24h: a.sent24h,
        last_error: a.lastError,
        last_error_at: isoOrNull(a.lastErrorAt),
      }));
      if (options.json) return printJson(rows);
      printTable(
        ['ADDRESS', 'EHLO', 'NODE', 'STATE', 'SENT 24H', 'LAST ERROR'],
        rows.map((r) => [
          r.address,
          r.ehlo,
          r.nodes.join(', '),
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
