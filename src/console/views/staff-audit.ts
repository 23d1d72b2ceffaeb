import type { Services } from '../../services.js';
import type { AuditEntry } from '../../store/audit-log.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';

export interface AuditRow extends AuditEntry {
  customer: string | null;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  limit?: number;
}

/** Staff actions from every channel, newest first, with the customer each concerned by name. */
export async function auditHistory(services: Services, viewer: Viewer, query: AuditQuery = {}): Promise<AuditRow[]> {
  assertStaff(viewer);
  const entries = await services.audit.list({ actor: query.actor || undefined, action: query.action || undefined, limit: query.limit ?? 300 });
  const names = new Map((await services.accounts.listCustomers()).map((c) => [c.id, c.name]));
  return entries.map((e) => ({ ...e, customer: e.customerId === null ? null : (names.get(e.customerId) ?? null) }));
}
