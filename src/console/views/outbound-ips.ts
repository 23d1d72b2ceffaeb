import { z } from 'zod';
import { IpPool } from '../../delivery/ip-pool.js';
import type { Services } from '../../services.js';
import type { IpActivity } from '../../store/delivery-records.js';
import type { Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, requireStaff } from './scope.js';

export const outboundIpSchema = z.object({
  address: z.string().describe('The address, or "(system default)" without outbound.ips.'),
  ehlo: z.string(),
  state: z.enum(['active', 'avoided', 'listed']),
  listings: z.array(z.object({ zone: z.string(), code: z.string().nullable(), reason: z.string().nullable(), since: isoSchema.nullable() })),
  avoided_for: z.array(z.object({ destination: z.string(), until: isoSchema, reason: z.string().nullable() })),
  sent_24h: z.number().int(),
  last_error: z.string().nullable(),
  last_error_at: isoSchema.nullable(),
});
export type OutboundIpView = z.infer<typeof outboundIpSchema>;

export const ipEventSchema = z.object({
  at: isoSchema,
  event: z.enum(['listed', 'delisted']),
  zone: z.string(),
  code: z.string().nullable(),
  reason: z.string().nullable(),
});
export type IpEventView = z.infer<typeof ipEventSchema>;

/** Each outbound address (staff): blocklist state, destinations avoiding it, mail sent over 24 h, last error. */
export async function listOutboundIps(services: Services, viewer: Viewer): Promise<OutboundIpView[]> {
  requireStaff(viewer);
  const { store, clock, config } = services;
  const now = clock.now();
  const pool = IpPool.fromConfig(config.outbound.ips, config.hostname);
  const avoidances = await store.delivery.avoidances(now);
  const activity = await store.delivery.ipActivity(now - 86_400_000);
  // As the relay sees them: zones no longer in dnsbl.ip_zones take nothing out of rotation.
  const listings = (await store.blocklists.listedIps()).filter((l) => config.dnsbl.ip_zones.includes(l.zone));
  return pool.ips.map((entry) => {
    const avoided = avoidances.filter((a) => a.sourceIp === entry.address);
    // Without outbound.ips every attempt left from an address the system chose: all of them are this entry's.
    const act = entry.address === null ? combined(activity) : activity.find((a) => a.sourceIp === entry.address);
    const listed = listings.filter((l) => l.subject === entry.address);
    return {
      address: entry.address ?? '(system default)',
      ehlo: entry.ehlo,
      state: listed.length ? 'listed' : avoided.length ? 'avoided' : 'active',
      listings: listed.map((l) => ({ zone: l.zone, code: l.code, reason: l.reason, since: iso(l.since) })),
      avoided_for: avoided.map((a) => ({ destination: a.destination, until: isoAt(a.until), reason: a.reason })),
      sent_24h: act?.delivered ?? 0,
      last_error: act?.lastError ?? null,
      last_error_at: iso(act?.lastErrorAt),
    };
  });
}

/** Every listing and delisting of one outbound address, oldest first (staff). */
export async function outboundIpHistory(services: Services, viewer: Viewer, address: string): Promise<IpEventView[]> {
  requireStaff(viewer);
  const events = await services.store.blocklists.ipEvents(address);
  return events.map((e) => ({ at: isoAt(e.at), event: e.kind, zone: e.zone, code: e.code, reason: e.reason }));
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
