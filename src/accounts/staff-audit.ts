import type { Clock } from '../shared/clock.js';
import type { AuditChannel, AuditEntry, AuditFilter } from '../store/audit-log.js';
import type { Store } from '../store/store.js';

/** Who acts, and through what: every staff action is recorded with both. */
export interface Actor {
  name: string;
  channel: AuditChannel;
}

export interface AuditAction {
  action: string;
  subject?: string | null;
  customerId?: number | null;
  detail?: Record<string, unknown> | null;
}

/** The audit history of staff actions (CLI, console, API): what the console's audit page shows. */
export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  record(actor: Actor, what: AuditAction): Promise<void> {
    return this.store.audit.record({
      at: this.clock.now(),
      actor: actor.name,
      channel: actor.channel,
      action: what.action,
      subject: what.subject ?? null,
      customerId: what.customerId ?? null,
      detail: what.detail ?? null,
    });
  }

  list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.store.audit.list(filter);
  }
}
