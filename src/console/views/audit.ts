import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { detailSchema, isoAt, isoSchema, requireStaff } from './scope.js';

export const auditEntrySchema = z.object({
  at: isoSchema,
  actor: z.string(),
  channel: z.enum(['cli', 'console', 'api']),
  action: z.string(),
  subject: z.string().nullable(),
  detail: detailSchema,
});
export type AuditEntryView = z.infer<typeof auditEntrySchema>;

/** The history of staff actions, newest first (staff only). */
export async function listAudit(services: Services, viewer: Viewer, filter: { since?: number; action?: string; limit?: number } = {}): Promise<AuditEntryView[]> {
  requireStaff(viewer);
  const entries = await services.audit.list(filter);
  return entries.map((e) => ({ at: isoAt(e.at), actor: e.actor, channel: e.channel, action: e.action, subject: e.subject, detail: e.detail }));
}
