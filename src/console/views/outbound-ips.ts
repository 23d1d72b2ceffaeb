import { z } from 'zod';
import { outboundAddressStates } from '../../delivery/outbound-addresses.js';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, requireStaff } from './scope.js';

export const outboundIpSchema = z.object({
  address: z.string().describe('The address, or "(system default)" without outbound.ips.'),
  ehlo: z.string(),
  nodes: z.array(z.string()).describe('The nodes that have this address bound (outbound.ips), from the node registry.'),
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
  return (await outboundAddressStates(services)).map((a) => ({
    address: a.address ?? '(system default)',
    ehlo: a.ehlo,
    nodes: a.nodes,
    state: a.state,
    listings: a.listings.map((l) => ({ zone: l.zone, code: l.code, reason: l.reason, since: iso(l.since) })),
    avoided_for: a.avoidedFor.map((x) => ({ destination: x.destination, until: isoAt(x.until), reason: x.reason })),
    sent_24h: a.sent24h,
    last_error: a.lastError,
    last_error_at: iso(a.lastErrorAt),
  }));
}

/** Every listing and delisting of one outbound address, oldest first (staff). */
export async function outboundIpHistory(services: Services, viewer: Viewer, address: string): Promise<IpEventView[]> {
  requireStaff(viewer);
  const events = await services.store.blocklists.ipEvents(address);
  return events.map((e) => ({ at: isoAt(e.at), event: e.kind, zone: e.zone, code: e.code, reason: e.reason }));
}
