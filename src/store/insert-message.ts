import type { NewMessage } from './records.js';
import type { SqlRunner, SqlValue } from './sql.js';

/** Writes one accepted message (or notice): envelope, body once, recipients, and its quota units. */
export async function insertMessage(tx: SqlRunner, m: NewMessage): Promise<void> {
  await tx.run(
    `INSERT INTO messages (id, credential_id, kind, mail_from, envid, ret, size, client_ip, created_at, retry_every, give_up_at, delay_notice_at,
       header_message_id, on_behalf_of_credential)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      m.id,
      m.credentialId,
      m.kind,
      m.mailFrom,
      m.envid,
      m.ret,
      m.body.length,
      m.clientIp,
      m.createdAt,
      m.retryEvery,
      m.giveUpAt,
      m.delayNoticeAt,
      m.headerMessageId ?? null,
      m.onBehalfOf ?? null,
    ],
  );
  await tx.run('INSERT INTO message_bodies (message_id, body) VALUES (?, ?)', [m.id, m.body]);
  const values: SqlValue[] = [];
  for (const r of m.recipients) values.push(m.id, r.address, r.domain, r.orcpt, r.notify, 'queued', m.createdAt, m.createdAt);
  await tx.run(
    `INSERT INTO recipients (message_id, address, domain, orcpt, notify, state, next_attempt_at, updated_at) VALUES ${m.recipients
      .map(() => '(?, ?, ?, ?, ?, ?, ?, ?)')
      .join(', ')}`,
    values,
  );
  if (m.reservationId !== null) await tx.run('DELETE FROM quota_reservations WHERE id = ?', [m.reservationId]);
  if (m.credentialId !== null) {
    await tx.run(
      `INSERT INTO quota_usage (credential_id, bucket_start, units) VALUES (?, ?, ?)
       ON CONFLICT (credential_id, bucket_start) DO UPDATE SET units = quota_usage.units + excluded.units`,
      [m.credentialId, m.usageBucket, m.recipients.length],
    );
  }
}
