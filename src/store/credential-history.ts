import { holdCredentialMail, releaseCredentialMail } from './held-mail.js';
import type { SqlDatabase, SqlRunner } from './sql.js';

/**
 * What happened to a credential, in order: suspensions, reinstatements, refusals, complaints, listings, virus
 * finds, charges. `kind` says what it was; `reason` is the suspension reason where one applies; `detail` holds
 * what a kind needs beyond that (zone, domain, signature, amount) as JSON, so a new kind needs no migration.
 */
export interface CredentialEvent {
  id: number;
  credentialId: number;
  at: number;
  kind: string;
  reason: string | null;
  actor: string;
  note: string | null;
  detail: Record<string, unknown> | null;
}

export type NewCredentialEvent = Omit<CredentialEvent, 'id'>;

/** What changes with a hold, in its transaction: more events (a reinstatement's charges), the credential's queued mail. */
export interface HoldEffects {
  events?: readonly NewCredentialEvent[];
  mail?: 'hold' | 'release';
}

interface EventRow {
  id: number;
  credential_id: number;
  at: number;
  kind: string;
  reason: string | null;
  actor: string;
  note: string | null;
  detail: string | null;
}

const toEvent = (r: EventRow): CredentialEvent => ({
  id: Number(r.id),
  credentialId: Number(r.credential_id),
  at: Number(r.at),
  kind: r.kind,
  reason: r.reason,
  actor: r.actor,
  note: r.note,
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
});

export class CredentialHistory {
  constructor(private readonly db: SqlDatabase) {}

  /** Records an event on its own (a complaint, a virus find): durable, as staff and customers rely on it. */
  async record(event: NewCredentialEvent): Promise<CredentialEvent> {
    return this.db.transaction((tx) => insertEvent(tx, event), { durable: true });
  }

  /**
   * Holds (or, with `reason: null`, releases) a credential and records why, in one transaction, so the history
   * never misses a state the credential was in. `onlyIf` guards a race between two deciders (two nodes, a
   * reinstatement during a scan): the change applies only when the current hold is what the caller saw.
   */
  async setHold(
    credentialId: number,
    reason: string | null,
    event: NewCredentialEvent,
    onlyIf?: { currentReason: string | null },
    also: HoldEffects = {},
  ): Promise<CredentialEvent | null> {
    return this.db.transaction(
      async (tx) => {
        const current = await tx.get<{ hold_reason: string | null }>('SELECT hold_reason FROM credentials WHERE id = ?', [credentialId]);
        if (!current) throw new Error(`no credential with id ${credentialId}`);
        if (onlyIf && current.hold_reason !== onlyIf.currentReason) return null;
        await tx.run('UPDATE credentials SET hold_reason = ?, hold_since = ?, updated_at = ? WHERE id = ?', [
          reason,
          reason === null ? null : event.at,
          event.at,
          credentialId,
        ]);
        const recorded = await insertEvent(tx, event);
        for (const extra of also.events ?? []) await insertEvent(tx, extra);
        if (also.mail === 'hold') await holdCredentialMail(tx, credentialId, event.at);
        if (also.mail === 'release') await releaseCredentialMail(tx, credentialId, event.at);
        return recorded;
      },
      { durable: true },
    );
  }

  /** Oldest first; `since` and `kinds` narrow it (charges since a date, complaints only). */
  list(credentialId: number, options: { since?: number; kinds?: string[] } = {}): Promise<CredentialEvent[]> {
    return this.select(credentialId, options);
  }

  /** Every credential's events of some kinds (charges of every customer), oldest first. */
  listAll(options: { since?: number; kinds?: string[] } = {}): Promise<CredentialEvent[]> {
    return this.select(null, options);
  }

  private async select(credentialId: number | null, options: { since?: number; kinds?: string[] }): Promise<CredentialEvent[]> {
    const where = ['1 = 1'];
    const params: (string | number)[] = [];
    if (credentialId !== null) {
      where.push('credential_id = ?');
      params.push(credentialId);
    }
    if (options.since !== undefined) {
      where.push('at >= ?');
      params.push(options.since);
    }
    if (options.kinds?.length) {
      where.push(`kind IN (${options.kinds.map(() => '?').join(', ')})`);
      params.push(...options.kinds);
    }
    const rows = await this.db.all<EventRow>(`SELECT * FROM credential_events WHERE ${where.join(' AND ')} ORDER BY at, id`, params);
    return rows.map(toEvent);
  }
}

async function insertEvent(tx: SqlRunner, event: NewCredentialEvent): Promise<CredentialEvent> {
  const row = await tx.get<{ id: number }>(
    'INSERT INTO credential_events (credential_id, at, kind, reason, actor, note, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [event.credentialId, event.at, event.kind, event.reason, event.actor, event.note, event.detail === null ? null : JSON.stringify(event.detail)],
  );
  return { ...event, id: Number(row?.id) };
}
