import { z } from 'zod';
import type { Services } from '../../services.js';
import type { AuditChannel } from '../../store/audit-log.js';
import type { Viewer } from '../viewer.js';
import { requireStaff, visibleCredential } from '../views/scope.js';
import { orderView, renewalOrderSchema, showSubscription, type SubscriptionView } from '../views/subscriptions.js';

/**
 * Subscription actions from the console and the API: staff only, through the SubscriptionService like the CLI's
 * (which writes the credential's history), each an audit entry.
 */

export const upgradeResultSchema = z.object({ charge: z.string().nullable().describe('the pro rata difference charged for the rest of the term') });
export const validateResultSchema = z.object({ order: renewalOrderSchema, reinstated: z.boolean().describe('the credential was suspended "expired" and is sending again') });

export async function subscribe(services: Services, viewer: Viewer, channel: AuditChannel, input: { credential: string; offer: string }): Promise<SubscriptionView> {
  requireStaff(viewer);
  await visibleCredential(services, viewer, input.credential);
  const s = await services.subscriptions.subscribe(input.credential, input.offer, undefined, viewer.name);
  await services.audit.record({ name: viewer.name, channel }, { action: 'subscription.add', subject: s.username, customerId: s.customerId, detail: { id: s.id, offer: s.offer } });
  return showSubscription(services, viewer, s.id);
}

export async function upgradeSubscription(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  id: number,
  offer: string,
): Promise<SubscriptionView & z.infer<typeof upgradeResultSchema>> {
  requireStaff(viewer);
  await showSubscription(services, viewer, id);
  const { subscription: s, charge } = await services.subscriptions.upgrade(id, offer, viewer.name);
  await services.audit.record({ name: viewer.name, channel }, { action: 'subscription.upgrade', subject: s.username, customerId: s.customerId, detail: { id, offer, charge } });
  return { ...(await showSubscription(services, viewer, id)), charge };
}

export async function downgradeSubscription(services: Services, viewer: Viewer, channel: AuditChannel, id: number, offer: string): Promise<SubscriptionView> {
  requireStaff(viewer);
  await showSubscription(services, viewer, id);
  const s = await services.subscriptions.downgrade(id, offer, viewer.name);
  await services.audit.record({ name: viewer.name, channel }, { action: 'subscription.downgrade', subject: s.username, customerId: s.customerId, detail: { id, next_offer: offer } });
  return showSubscription(services, viewer, id);
}

export async function validateRenewal(services: Services, viewer: Viewer, channel: AuditChannel, orderId: number): Promise<z.infer<typeof validateResultSchema>> {
  requireStaff(viewer);
  const { subscription: s, order, reinstated } = await services.subscriptions.validateRenewal(orderId, viewer.name);
  await services.audit.record({ name: viewer.name, channel }, { action: 'renewal.validate', subject: s.username, customerId: s.customerId, detail: { order: orderId, subscription: s.id, reinstated } });
  return { order: orderView(order), reinstated };
}
