import type { SqlDatabase } from './sql.js';

/** Where a staff action came from. */
export type AuditChannel = 'cli' | 'console' | 'api';

/** One staff action: who did what to what, from where. The console's audit page lists these. */
export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  channel: AuditChannel;
  /** Dotted verb, stable for scripts: `credential.suspend`, `queue.delete`, `login.add`, ... */
  action: string;
  /** What it was done to, as people name it: a username, a queue id, an address, a customer name. */
  subject: string | null;
  customerId: number | null;
  detail: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  channel: string;
  action: string;
  subject: string | null;
  customer_id: number | null;
  detail: string | null;
}

const toEntry = (r: AuditRow): AuditEntry => ({
  id: Number(r.id),
  at: Number(r.at),
  actor: r.actor,
  channel: r.channel as AuditChannel,
  action: r.action,
  subject: r.subject,
  customerId: r.customer_id === null ? null : Number(r.customer_id),
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
});

export interface AuditFilter {
  customerId?: number;
  actor?: string;
  action?: string;
  since?: number;
  limit?: number;
}

export class AuditLog {
  constructor(private readonly db: SqlDatabase) {}

  async record(entry: NewAuditEntry): Promise<void> {
    await this.db.transaction(
      (tx) =>
        tx.run('INSERT INTO audit_log (at, actor, channel, action, subject, customer_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)', [
          entry.at,
          entry.actor,
          entry.channel,
          entry.action,
          entry.subject,
          entry.customerId,
          entry.detail === null ? null : JSON.stringify(entry.detail),
        ]),
      { durable: true },
    );
  }

  /** Newest first. */
  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.customerId !== undefined) (where.push('customer_id = ?'), params.push(filter.customerId));
    if (filter.actor !== undefined) (where.push('actor = ?'), params.push(filter.actor));
    if (filter.action !== undefined) (where.push('action = ?'), params.push(filter.action));
    if (filter.since !== undefined) (where.push('at >= ?'), params.push(filter.since));
    params.push(Math.min(Math.max(filter.limit ?? 200, 1), 5000));
    const rows = await this.db.all<AuditRow>(
      `SELECT id, at, actor, channel, action, subject, customer_id, detail FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toEntry);
  }
}
