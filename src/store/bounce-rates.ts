import type { SqlDatabase, SqlRunner } from './sql.js';

/** Outcome counts land in minutes: a 24 h rate sums at most 1440 rows of one credential. */
export const OUTCOME_BUCKET_MS = 60_000;

/** A recipient's settled row, as the settle transaction saw it right after its update. */
export interface SettledRow {
  messageId: string;
  /** Attempts after this one: 1 means this was the recipient's first verdict. */
  attempts: number;
  state: string;
}

export interface OutcomeCounts {
  /** Recipients that got a first verdict (delivered, deferred or failed) from a delivery attempt. */
  attempted: number;
  /** Of those, the ones that failed for good (5xx, no such domain, or given up). */
  failed: number;
}

const IN_CHUNK = 500;

/** A credential's outcome counts from a bucket on: a range of credential_outcomes' primary key. */
export const OUTCOMES_SQL = 'SELECT SUM(attempted) AS attempted, SUM(failed) AS failed FROM credential_outcomes WHERE credential_id = ? AND bucket_start >= ?';
/** Notices about a credential's mail since an instant: a range of the partial index messages_on_behalf_of. */
export const NOTICES_SQL = 'SELECT COUNT(*) AS n FROM messages WHERE on_behalf_of_credential = ? AND created_at >= ?';

/**
 * Counts what a credential's recipients came to, for its bounce rate: each recipient is counted as attempted at its
 * first verdict and as failed when it fails, both in the minute its message was accepted, so that the rate over
 * a window never exceeds 1 and a late give-up still weighs against the mail that caused it. Runs inside the
 * settle transaction, so a counted outcome and the outcome itself commit together.
 */
export async function countOutcomes(tx: SqlRunner, rows: readonly SettledRow[]): Promise<void> {
  const relevant = rows.filter((r) => r.attempts === 1 || r.state === 'failed');
  if (relevant.length === 0) return;
  const ids = [...new Set(relevant.map((r) => r.messageId))];
  const owners = new Map<string, { credentialId: number; createdAt: number }>();
  for (let i = 0; i < ids.length; i += IN_CHUNK) {
    const chunk = ids.slice(i, i + IN_CHUNK);
    const found = await tx.all<{ id: string; credential_id: number | null; created_at: number }>(
      `SELECT id, credential_id, created_at FROM messages WHERE id IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const m of found) if (m.credential_id !== null) owners.set(m.id, { credentialId: Number(m.credential_id), createdAt: Number(m.created_at) });
  }
  const counts = new Map<string, { credentialId: number; bucket: number } & OutcomeCounts>();
  for (const r of relevant) {
    // Notices belong to no credential: their own failures are not a customer's bounces.
    const owner = owners.get(r.messageId);
    if (!owner) continue;
    const bucket = Math.floor(owner.createdAt / OUTCOME_BUCKET_MS) * OUTCOME_BUCKET_MS;
    const key = `${owner.credentialId}/${bucket}`;
    const c = counts.get(key) ?? { credentialId: owner.credentialId, bucket, attempted: 0, failed: 0 };
    if (r.attempts === 1) c.attempted++;
    if (r.state === 'failed') c.failed++;
    counts.set(key, c);
  }
  for (const c of counts.values()) {
    await tx.run(
      `INSERT INTO credential_outcomes (credential_id, bucket_start, attempted, failed) VALUES (?, ?, ?, ?)
       ON CONFLICT (credential_id, bucket_start) DO UPDATE SET attempted = credential_outcomes.attempted + excluded.attempted,
         failed = credential_outcomes.failed + excluded.failed`,
      [c.credentialId, c.bucket, c.attempted, c.failed],
    );
  }
}

/** Bounce rates and the notices sent on a credential's behalf. */
export class BounceRates {
  constructor(private readonly db: SqlDatabase) {}

  /** Outcomes of the credential's messages accepted at or after `since`. */
  async outcomes(credentialId: number, since: number): Promise<OutcomeCounts> {
    const row = await this.db.get<{ attempted: number | null; failed: number | null }>(
      OUTCOMES_SQL,
      [credentialId, Math.floor(since / OUTCOME_BUCKET_MS) * OUTCOME_BUCKET_MS],
    );
    return { attempted: Number(row?.attempted ?? 0), failed: Number(row?.failed ?? 0) };
  }

  /** Delay and failure notices queued since `since` about the credential's mail (they count against no quota). */
  async noticesSince(credentialId: number, since: number): Promise<number> {
    const row = await this.db.get<{ n: number }>(NOTICES_SQL, [credentialId, since]);
    return Number(row?.n ?? 0);
  }

  /** Forgets counts of messages accepted before `before`: no window reaches them any more. */
  async prune(before: number): Promise<number> {
    return (await this.db.run('DELETE FROM credential_outcomes WHERE bucket_start < ?', [before])).changes;
  }
}
