import type { Command } from 'commander';
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
      const rows = pool.ips.map((entry) => {
        const address = entry.address ?? '(system default)';
        const avoided = avoidances.filter((a) => a.sourceIp === entry.address);
        // Without outbound.ips every attempt left from an address the system chose: all of them are this entry's.
        const act = entry.address === null ? combined(activity) : activity.find((a) => a.sourceIp === entry.address);
        return {
          address,
          ehlo: entry.ehlo,
          state: avoided.length ? `avoided for ${avoided.length} destination(s)` : 'active',
          avoided_for: avoided.map((a) => ({ destination: a.destination, until: isoOrNull(a.until), reason: a.reason })),
          sent_24h: act?.delivered ?? 0,
          last_error: act?.lastError ?? null,
          last_error_at: isoOrNull(act?.lastErrorAt),
        };
      });
      if (options.json) return printJson(rows);
      printTable(
        ['ADDRESS', 'EHLO', 'STATE', 'SENT 24H', 'LAST ERROR'],
        rows.map((r) => [r.address, r.ehlo, r.state, r.sent_24h, r.last_error ? `${when(Date.parse(r.last_error_at as string))} ${r.last_error}` : '-']),
      );
      for (const r of rows) for (const a of r.avoided_for) printLine(`  ${r.address} avoided for ${a.destination} until ${a.until} (${a.reason ?? ''})`);
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
