import { z } from 'zod';
import type { Services } from '../../services.js';
import type { RenewalOrder, Subscription } from '../../store/subscriptions.js';
import { canSee, customerScope, type Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, NotFound } from './scope.js';

export const renewalOrderSchema = z.object({
  id: z.number().int(),
  subscription: z.number().int(),
  term_start: isoSchema,
  term_end: isoSchema,
  created_at: isoSchema,
  offer: z.string().nullable().describe('the offer the next term was validated with'),
  validated_at: isoSchema.nullable(),
  validated_by: z.string().nullable(),
});

export const subscriptionSchema = z.object({
  id: z.number().int(),
  credential: z.string(),
  customer: z.string(),
  offer: z.string(),
  quota: z.number().int(),
  price: z.string(),
  term_start: isoSchema,
  term_end: isoSchema.describe('exclusive: the next term starts at this instant'),
  next_offer: z.string().nullable().describe('a downgrade asked for the next term'),
  status: z.enum(['active', 'expired']),
  renewal_order: renewalOrderSchema.nullable().describe('the order of the term that follows, once made'),
});

export type SubscriptionView = z.infer<typeof subscriptionSchema>;
export type RenewalOrderView = z.infer<typeof renewalOrderSchema>;

export function orderView(o: RenewalOrder): RenewalOrderView {
  return {
    id: o.id,
    subscription: o.subscriptionId,
    term_start: isoAt(o.termStart),
    term_end: isoAt(o.termEnd),
    created_at: isoAt(o.createdAt),
    offer: o.offer,
    validated_at: iso(o.validatedAt),
    validated_by: o.validatedBy,
  };
}

/** A subscription's own fields, as the API and `relais subscription list --json` give them. */
export function subscriptionFields(s: Subscription): Omit<SubscriptionView, 'renewal_order'> {
  return {
    id: s.id,
    credential: s.username,
    customer: s.customer,
    offer: s.offer,
    quota: s.quota,
    price: s.price,
    term_start: isoAt(s.termStart),
    term_end: isoAt(s.termEnd),
    next_offer: s.nextOffer,
    status: s.status,
  };
}

function subscriptionView(s: Subscription, orders: readonly RenewalOrder[]): SubscriptionView {
  const order = orders.find((o) => o.subscriptionId === s.id && o.termStart === s.termEnd);
  return {
    ...subscriptionFields(s),
    renewal_order: order ? orderView(order) : null,
  };
}

/** The subscriptions the viewer may see (a customer: its own), each with the renewal order of its next term. */
export async function listSubscriptions(services: Services, viewer: Viewer): Promise<SubscriptionView[]> {
  const customerId = customerScope(viewer);
  const [subscriptions, orders] = await Promise.all([
    services.store.subscriptions.list(customerId === undefined ? {} : { customerId }),
    services.store.subscriptions.listOrders(customerId === undefined ? {} : { customerId }),
  ]);
  return subscriptions.map((s) => subscriptionView(s, orders));
}

export async function showSubscription(services: Services, viewer: Viewer, id: number): Promise<SubscriptionView> {
  const s = await services.store.subscriptions.find(id);
  if (!s || !canSee(viewer, s.customerId)) throw new NotFound(`no subscription ${id}`);
  return subscriptionView(s, await services.store.subscriptions.listOrders({ customerId: s.customerId }));
}

/** Renewal orders the viewer may see; `open`: only those not validated yet. */
export async function listRenewals(services: Services, viewer: Viewer, open = false): Promise<RenewalOrderView[]> {
  const customerId = customerScope(viewer);
  return (await services.store.subscriptions.listOrders({ open, ...(customerId === undefined ? {} : { customerId }) })).map(orderView);
}
