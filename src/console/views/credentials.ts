import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Credential, Plan } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, visibleCredential, visibleCredentials } from './scope.js';

export const credentialSchema = z.object({
  username: z.string(),
  customer: z.string(),
  enabled: z.boolean(),
  hold: z.string().nullable().describe('The suspension that holds its sending (complaint, blocklist, manual...), or null. Quota is in its usage.'),
  hold_since: isoSchema.nullable(),
  created_at: isoSchema,
  updated_at: isoSchema,
});
export type CredentialView = z.infer<typeof credentialSchema>;

export const planSchema = z.object({
  id: z.number().int(),
  quota: z.number().int(),
  starts_at: isoSchema,
  ends_at: isoSchema,
  state: z.enum(['future', 'active', 'ended']),
});
export type PlanView = z.infer<typeof planSchema>;

export const credentialDetailSchema = credentialSchema.extend({
  plans: z.array(planSchema),
  usage: z.object({ sent: z.number().int(), quota: z.number().int(), remaining: z.number().int() }),
});
export type CredentialDetailView = z.infer<typeof credentialDetailSchema>;

export function credentialView(c: Credential): CredentialView {
  return {
    username: c.username,
    customer: c.customerName,
    enabled: c.enabled,
    hold: c.holdReason,
    hold_since: iso(c.holdSince),
    created_at: isoAt(c.createdAt),
    updated_at: isoAt(c.updatedAt),
  };
}

export function planView(p: Plan, now: number): PlanView {
  return {
    id: p.id,
    quota: p.quota,
    starts_at: isoAt(p.startsAt),
    ends_at: isoAt(p.endsAt),
    state: now < p.startsAt ? 'future' : now >= p.endsAt ? 'ended' : 'active',
  };
}

export async function listCredentials(services: Services, viewer: Viewer, customer?: string): Promise<CredentialView[]> {
  return (await visibleCredentials(services, viewer, customer)).map(credentialView);
}

export async function showCredential(services: Services, viewer: Viewer, username: string): Promise<CredentialDetailView> {
  const credential = await visibleCredential(services, viewer, username);
  const [plans, usage] = await Promise.all([services.store.listPlans(credential.id), services.quota.usage(credential.id)]);
  const now = services.clock.now();
  return {
    ...credentialView(credential),
    plans: plans.map((p) => planView(p, now)),
    usage: { sent: usage.sent, quota: usage.quota, remaining: usage.remaining },
  };
}

/** A credential's plans, oldest first; several active ones add up. */
export async function listPlans(services: Services, viewer: Viewer, username: string): Promise<PlanView[]> {
  const credential = await visibleCredential(services, viewer, username);
  const now = services.clock.now();
  return (await services.store.listPlans(credential.id)).map((p) => planView(p, now));
}
