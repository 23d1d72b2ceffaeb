import { z } from 'zod';
import type { Services } from '../../services.js';
import type { CredentialEvent } from '../../store/credential-history.js';
import type { Viewer } from '../viewer.js';
import { credentialSchema, credentialView } from './credentials.js';
import { detailSchema, isoAt, isoSchema, visibleCredential, visibleCredentials } from './scope.js';

export const historyEventSchema = z.object({
  at: isoSchema,
  event: z.string().describe('suspended, reinstated, reinstatement_refused, complaint, charge, mail_released, message_deleted, ...'),
  reason: z.string().nullable(),
  actor: z.string(),
  note: z.string().nullable(),
  detail: detailSchema,
});
export type HistoryEventView = z.infer<typeof historyEventSchema>;

export function historyEventView(e: CredentialEvent): HistoryEventView {
  return { at: isoAt(e.at), event: e.kind, reason: e.reason, actor: e.actor, note: e.note, detail: e.detail };
}

/** Everything that happened to a credential, oldest first: its customer reads it as staff do. */
export async function credentialHistory(services: Services, viewer: Viewer, username: string): Promise<HistoryEventView[]> {
  const credential = await visibleCredential(services, viewer, username);
  return (await services.suspensions.history(credential.id)).map(historyEventView);
}

export const suspendedCredentialSchema = credentialSchema.extend({
  held: z.object({ messages: z.number().int(), recipients: z.number().int() }),
});
export type SuspendedCredentialView = z.infer<typeof suspendedCredentialSchema>;

/** The credentials suspended now (staff: all; a customer: its own), with the mail each holds. */
export async function listSuspended(services: Services, viewer: Viewer): Promise<SuspendedCredentialView[]> {
  const suspended = (await visibleCredentials(services, viewer)).filter((c) => c.holdReason !== null);
  return Promise.all(suspended.map(async (c) => ({ ...credentialView(c), held: await services.store.heldMail.summary(c.id) })));
}
