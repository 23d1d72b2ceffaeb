import { outboundAddressStates } from '../../delivery/outbound-addresses.js';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';
import { auditHistory, type AuditRow } from './staff-audit.js';

export interface StaffOverview {
  customers: number;
  credentials: number;
  suspended: number;
  pendingRecipients: number;
  heldMessages: number;
  addresses: number;
  addressesListed: number;
  recentActions: AuditRow[];
}

/** The few numbers staff look at first, and the latest staff actions. */
export async function staffOverview(services: Services, viewer: Viewer): Promise<StaffOverview> {
  assertStaff(viewer);
  const credentials = await services.accounts.listCredentials();
  const shape = await services.store.delivery.shape(services.clock.now());
  let heldMessages = 0;
  // Only a suspended credential's mail is held: a count per suspended credential, not a walk of the queue.
  for (const c of credentials.filter((k) => k.holdReason !== null)) heldMessages += (await services.store.heldMail.summary(c.id)).messages;
  const addresses = await outboundAddressStates(services);
  return {
    customers: (await services.accounts.listCustomers()).length,
    credentials: credentials.length,
    suspended: credentials.filter((c) => c.holdReason !== null).length,
    pendingRecipients: shape.reduce((n, r) => n + r.total, 0),
    heldMessages,
    addresses: addresses.length,
    addressesListed: addresses.filter((a) => a.state === 'listed').length,
    recentActions: await auditHistory(services, viewer, { limit: 8 }),
  };
}
