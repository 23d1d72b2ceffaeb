import type { SqlDatabase, SqlRunner } from './sql.js';

/**
 * Mail held while its credential is suspended: recipients in state `held` are outside the partial index the claim
 * walks (recipients_pending_due), so holding costs the delivery hot path nothing. A held message's give-up and
 * delay-notice clocks are stopped (messages.held_at) and moved on by the time held when it is released.
 * Only the customer's own messages are held, never the notices Relais sends back to them.
 */

/**
 * In the claim, with messages as `m` and their credentials as `k`: this message belongs to a credential whose
 * suspension holds its mail, and staff have not released it since that suspension began. It catches a message
 * committed just after its credential was suspended (it passed MAIL FROM before), which the hold at suspension
 * time could not see. Quota is no suspension of queued mail: it only limits what is accepted.
 */
export const HELD_BY_SUSPENSION = `m.kind = 'message' AND k.hold_reason IS NOT NULL AND k.hold_reason <> 'quota'
  AND (m.released_at IS NULL OR m.released_at < k.hold_since)`;

/** Pending recipients that nobody else is delivering: a live lease of another process is left to settle. */
const HOLDABLE = "state IN ('queued', 'deferred') AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)";

export interface HeldSummary {
  messages: number;
  recipients: number;
}

/** Holds the pending mail of a credential that has just been suspended (in the suspension's transaction). */
export async function holdCredentialMail(tx: SqlRunner, credentialId: number, now: number): Promise<number> {
  const messages = await tx.run(
    `UPDATE messages SET held_at = ? WHERE credential_id = ? AND kind = 'message' AND finished_at IS NULL AND held_at IS NULL`,
    [now, credentialId],
  );
  await tx.run(
    `UPDATE recipients SET state = 'held', lease_owner = NULL, lease_until = NULL, updated_at = ?
     WHERE ${HOLDABLE} AND message_id IN (SELECT id FROM messages WHERE credential_id = ? AND kind = 'message' AND finished_at IS NULL)`,
    [now, now, '', credentialId],
  );
  return messages.changes;
}

/** Holds these messages (found by the claim with HELD_BY_SUSPENSION), including what `owner` just claimed of them. */
export async function holdMessages(tx: SqlRunner, ids: readonly string[], now: number, owner: string): Promise<void> {
  const list = ids.map(() => '?').join(', ');
  await tx.run(`UPDATE messages SET held_at = COALESCE(held_at, CAST(? AS BIGINT)) WHERE id IN (${list})`, [now, ...ids]);
  await tx.run(
    `UPDATE recipients SET state = 'held', lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE ${HOLDABLE} AND message_id IN (${list})`,
    [now, now, owner, ...ids],
  );
}

/**
 * Releases a credential's held mail: due at once, its give-up and delay-notice times moved on by the time it was
 * held, so a week's suspension does not expire mail that had days to go. Marked released, so the claim does
 * not hold it again while the suspension (if staff released it without reinstating) still runs.
 */
export async function releaseCredentialMail(tx: SqlRunner, credentialId: number, now: number): Promise<HeldSummary> {
  const recipients = await tx.run(
    `UPDATE recipients SET state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, next_attempt_at = ?,
       lease_owner = NULL, lease_until = NULL, updated_at = ?
     WHERE state = 'held' AND message_id IN (SELECT id FROM messages WHERE credential_id = ? AND held_at IS NOT NULL)`,
    [now, now, credentialId],
  );
  const messages = await tx.run(
    `UPDATE messages SET give_up_at = give_up_at + (CAST(? AS BIGINT) - held_at), delay_notice_at = delay_notice_at + (CAST(? AS BIGINT) - held_at),
       held_at = NULL, released_at = ?
     WHERE credential_id = ? AND held_at IS NOT NULL AND finished_at IS NULL`,
    [now, now, now, credentialId],
  );
  return { messages: messages.changes, recipients: recipients.changes };
}

export class HeldMail {
  constructor(private readonly db: SqlDatabase) {}

  async release(credentialId: number, now: number): Promise<HeldSummary> {
    return this.db.transaction((tx) => releaseCredentialMail(tx, credentialId, now), { durable: true });
  }

  /**
   * What of a credential's mail is held now. A message counts from its suspension on, even while one of its
   * recipients is still finishing a delivery that began before (held when it settles deferred).
   */
  async summary(credentialId: number): Promise<HeldSummary> {
    const row = await this.db.get<{ messages: number; recipients: number }>(
      `SELECT (SELECT COUNT(*) FROM messages WHERE credential_id = ? AND held_at IS NOT NULL AND finished_at IS NULL) AS messages,
         (SELECT COUNT(*) FROM recipients WHERE state = 'held' AND message_id IN (SELECT id FROM messages WHERE credential_id = ?)) AS recipients`,
      [credentialId, credentialId],
    );
    return { messages: Number(row?.messages ?? 0), recipients: Number(row?.recipients ?? 0) };
  }
}
