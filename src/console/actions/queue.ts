import { z } from 'zod';
import { deleteQueuedMessage } from '../../queue/queue-admin.js';
import type { Services } from '../../services.js';
import type { AuditChannel } from '../../store/audit-log.js';
import type { Viewer } from '../viewer.js';
import { NotFound, requireStaff } from '../views/scope.js';

export const retryResultSchema = z.object({ id: z.string(), recipients: z.number().int() });
export const deleteResultSchema = z.object({ id: z.string(), deleted: z.boolean(), notice: z.string().nullable() });

async function customerOfMessage(services: Services, credentialId: number | null): Promise<number | null> {
  if (credentialId === null) return null;
  return (await services.store.credentialById(credentialId))?.customerId ?? null;
}

/** Makes a message's pending recipients due now (staff). */
export async function retryMessage(services: Services, viewer: Viewer, channel: AuditChannel, id: string): Promise<z.infer<typeof retryResultSchema>> {
  requireStaff(viewer);
  const message = await services.store.delivery.message(id);
  if (!message) throw new NotFound(`no message "${id}" in the queue`);
  const recipients = await services.store.delivery.retryNow(id, services.clock.now());
  await services.audit.record(
    { name: viewer.name, channel },
    { action: 'queue.retry', subject: id, customerId: await customerOfMessage(services, message.credentialId), detail: { recipients } },
  );
  return { id, recipients };
}

/** Deletes a message (staff); with `notify` its sender gets a failure notice for what was still pending. */
export async function deleteMessage(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  id: string,
  input: { notify: boolean; note: string | null },
): Promise<z.infer<typeof deleteResultSchema>> {
  requireStaff(viewer);
  const message = await services.store.delivery.message(id);
  if (!message) throw new NotFound(`no message "${id}" in the queue`);
  const customerId = await customerOfMessage(services, message.credentialId);
  const outcome = await deleteQueuedMessage(services, id, { notify: input.notify, actor: viewer.name, note: input.note });
  await services.audit.record({ name: viewer.name, channel }, { action: 'queue.delete', subject: id, customerId, detail: { notify: input.notify, note: input.note, notice: outcome.notice } });
  return { id, deleted: true, notice: outcome.notice };
}
