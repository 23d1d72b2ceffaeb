import { z } from 'zod';
import type { FeeLine } from '../../reputation/fees.js';
import type { SuspensionReason } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import type { AuditChannel } from '../../store/audit-log.js';
import type { HeldSummary } from '../../store/held-mail.js';
import type { Viewer } from '../viewer.js';
import { Conflict, isoAt, isoSchema, StaffOnly, visibleCredential } from '../views/scope.js';

/**
 * Suspensions decided by staff from the console or the API. They go through the SuspensionService like the
 * CLI's (which writes the credential's history with the actor and note), and each is also an audit entry.
 */

const heldSchema = z.object({ messages: z.number().int(), recipients: z.number().int() });

export const suspendResultSchema = z.object({ username: z.string(), reason: z.string(), since: isoSchema, actor: z.string(), note: z.string(), held: heldSchema });
export const reinstateResultSchema = z.object({
  username: z.string(),
  reason: z.string().nullable(),
  at: isoSchema,
  actor: z.string(),
  note: z.string(),
  charges: z.array(z.object({ fee: z.string(), amount: z.string(), currency: z.string() })),
  released: heldSchema,
});
export const refuseResultSchema = z.object({ username: z.string(), reason: z.string().nullable(), at: isoSchema, actor: z.string(), note: z.string() });
export const releaseResultSchema = z.object({ username: z.string(), released: heldSchema });

async function staffCredential(services: Services, viewer: Viewer, username: string) {
  // Staff first: a customer asking about its own credential still gets "staff only", not a 404.
  if (viewer.role !== 'staff') throw new StaffOnly('this is for staff only');
  return visibleCredential(services, viewer, username);
}

export async function suspendCredential(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  username: string,
  input: { reason: Exclude<SuspensionReason, 'quota'>; note: string },
): Promise<z.infer<typeof suspendResultSchema>> {
  const credential = await staffCredential(services, viewer, username);
  const event = await services.suspensions.suspend(credential.id, input.reason, { actor: viewer.name, note: input.note });
  if (!event) {
    const now = await services.store.credentialById(credential.id);
    throw new Conflict(`credential "${username}" is already suspended (${now?.holdReason ?? 'unknown'} since ${isoAt(now?.holdSince ?? 0)}): see its history`);
  }
  const held = await services.store.heldMail.summary(credential.id);
  await services.audit.record(
    { name: viewer.name, channel },
    { action: 'credential.suspend', subject: credential.username, customerId: credential.customerId, detail: { reason: input.reason, note: input.note, held_messages: held.messages } },
  );
  return { username: credential.username, reason: input.reason, since: isoAt(event.at), actor: viewer.name, note: input.note, held };
}

export async function reinstateCredential(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  username: string,
  input: { note: string; waiveFees: boolean },
): Promise<z.infer<typeof reinstateResultSchema>> {
  const credential = await staffCredential(services, viewer, username);
  const done = await services.suspensions.reinstate(credential.id, { actor: viewer.name, note: input.note, waiveFees: input.waiveFees });
  await services.audit.record(
    { name: viewer.name, channel },
    {
      action: 'credential.reinstate',
      subject: credential.username,
      customerId: credential.customerId,
      detail: { reason: done.event.reason, note: input.note, waive_fees: input.waiveFees, charges: done.charges.map((c: FeeLine) => ({ ...c })), released_messages: done.released.messages },
    },
  );
  return { username: credential.username, reason: done.event.reason, at: isoAt(done.event.at), actor: viewer.name, note: input.note, charges: done.charges, released: done.released };
}

export async function refuseReinstatement(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  username: string,
  input: { note: string },
): Promise<z.infer<typeof refuseResultSchema>> {
  const credential = await staffCredential(services, viewer, username);
  const event = await services.suspensions.refuse(credential.id, { actor: viewer.name, note: input.note });
  await services.audit.record(
    { name: viewer.name, channel },
    { action: 'credential.refuse', subject: credential.username, customerId: credential.customerId, detail: { reason: event.reason, note: input.note } },
  );
  return { username: credential.username, reason: event.reason, at: isoAt(event.at), actor: viewer.name, note: input.note };
}

/** Lets a suspended credential's held mail go out; the suspension stays. */
export async function releaseHeldMail(
  services: Services,
  viewer: Viewer,
  channel: AuditChannel,
  username: string,
  input: { note: string | null },
): Promise<{ username: string; released: HeldSummary }> {
  const credential = await staffCredential(services, viewer, username);
  const released = await services.suspensions.releaseHeldMail(credential.id, { actor: viewer.name, note: input.note });
  await services.audit.record(
    { name: viewer.name, channel },
    { action: 'queue.release', subject: credential.username, customerId: credential.customerId, detail: { ...released, note: input.note } },
  );
  return { username: credential.username, released };
}
