import { z } from 'zod';
import { totalsByCurrency } from '../../reputation/fees.js';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { isoAt, isoSchema, visibleCredentials } from './scope.js';

export const chargesSchema = z.object({
  charges: z.array(
    z.object({
      at: isoSchema,
      customer: z.string(),
      credential: z.string(),
      fee: z.string(),
      amount: z.string(),
      currency: z.string(),
      reason: z.string().nullable(),
      actor: z.string(),
      note: z.string().nullable(),
    }),
  ),
  totals: z.array(z.object({ currency: z.string(), amount: z.string() })),
});
export type ChargesView = z.infer<typeof chargesSchema>;

/** Billable events (reinstatement fees, blocklist removal work), oldest first, with totals per currency. */
export async function listCharges(services: Services, viewer: Viewer, filter: { customer?: string; since?: number } = {}): Promise<ChargesView> {
  const credentials = new Map((await visibleCredentials(services, viewer, filter.customer)).map((c) => [c.id, c]));
  const charges = (await services.store.history.listAll({ since: filter.since, kinds: ['charge'] }))
    .filter((e) => credentials.has(e.credentialId))
    .map((e) => {
      const c = credentials.get(e.credentialId);
      const d = e.detail ?? {};
      return {
        at: isoAt(e.at),
        customer: c?.customerName ?? '-',
        credential: c?.username ?? '-',
        fee: String(d.fee ?? '-'),
        amount: String(d.amount ?? '0'),
        currency: String(d.currency ?? '-'),
        reason: e.reason,
        actor: e.actor,
        note: e.note,
      };
    });
  return { charges, totals: totalsByCurrency(charges) };
}
