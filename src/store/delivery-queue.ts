import type {
  AttemptRecord,
  DeliveryMessage,
  DueRecipient,
  IpActivity,
  IpAvoidance,
  PendingRecipient,
  RecipientUpdate,
  ShapeRow,
} from './delivery-records.js';
import { QUEUE_SHAPE_BUCKETS_MINUTES } from './delivery-records.js';
import type { NewMessage } from './records.js';
import type { SqlDatabase, SqlRunner, SqlValue } from './sql.js';
import { insertMessage } from './insert-message.js';

const PENDING = "('queued', 'deferred')";

/**
 * The delivery side of the queue: leases on due recipients, outcomes, attempts, notices, IP avoidance and the
 * operator's queue commands. A claimed recipient's next_attempt_at is moved to the end of its lease, so a node
 * that dies mid-delivery loses its claims by time alone and another node picks them up.
 */
export class DeliveryQueue {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * `skip` lists (domain, credential) lanes whose recipients the caller already holds enough of: their rows stay
   * in the queue, so one destination's or customer's backlog cannot crowd out the rest of a claim.
   */
  async claimDue(
    now: number,
    limit: number,
    owner: string,
    leaseUntil: number,
    skip: readonly { domain: string; credentialId: number | null }[] = [],
  ): Promise<DueRecipient[]> {
    const lock = this.db.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
    const skipSql = skip
      .map(() => ' AND NOT (domain = ? AND COALESCE((SELECT m.credential_id FROM messages m WHERE m.id = recipients.message_id), -1) = ?)')
      .join('');
    const skipParams = skip.flatMap((l) => [l.domain, l.credentialId ?? -1]);
    const { rows, credentials } = await this.db.transaction(
      async (tx) => {
        const rows = await tx.all<{ id: number; message_id: string; address: string; domain: string; orcpt: string | null; notify: string | null; attempts: number }>(
          `UPDATE recipients SET lease_owner = ?, lease_until = ?, next_attempt_at = ?
           WHERE id IN (SELECT id FROM recipients WHERE state IN ${PENDING} AND next_attempt_at <= ?${skipSql} ORDER BY next_attempt_at LIMIT ? ${lock})
           RETURNING id, message_id, address, domain, orcpt, notify, attempts`,
          [owner, leaseUntil, leaseUntil, now, ...skipParams, limit],
        );
        const ids = [...new Set(rows.map((r) => r.message_id))];
        const credentials = ids.length
          ? await tx.all<{ id: string; credential_id: number | null }>(`SELECT id, credential_id FROM messages WHERE id IN (${ids.map(() => '?').join(', ')})`, ids)
          : [];
        return { rows, credentials };
      },
      { durable: false },
    );
    const credentialOf = new Map(credentials.map((c) => [c.id, c.credential_id === null ? null : Number(c.credential_id)]));
    return rows.map((r) => ({
      id: Number(r.id),
      messageId: r.message_id,
      address: r.address,
      domain: r.domain,
      orcpt: r.orcpt,
      notify: r.notify,
      attempts: Number(r.attempts),
      credentialId: credentialOf.get(r.message_id) ?? null,
    }));
  }

  async message(id: string): Promise<DeliveryMessage | undefined> {
    const r = await this.db.get<{
      id: string;
      credential_id: number | null;
      kind: string;
      mail_from: string;
      envid: string | null;
      ret: string | null;
      created_at: number;
      retry_every: number;
      give_up_at: number;
      delay_notice_at: number;
      delay_notice_sent: number;
    }>(
      `SELECT id, credential_id, kind, mail_from, envid, ret, created_at, retry_every, give_up_at, delay_notice_at, delay_notice_sent
       FROM messages WHERE id = ?`,
      [id],
    );
    if (!r) return undefined;
    return {
      id: r.id,
      credentialId: r.credential_id === null ? null : Number(r.credential_id),
      kind: r.kind as DeliveryMessage['kind'],
      mailFrom: r.mail_from,
      envid: r.envid,
      ret: r.ret,
      createdAt: Number(r.created_at),
      retryEvery: Number(r.retry_every),
      giveUpAt: Number(r.give_up_at),
      delayNoticeAt: Number(r.delay_notice_at),
      delayNoticeSent: Number(r.delay_notice_sent) === 1,
    };
  }

  /**
   * Writes outcomes, the attempts that led to them and any failure notices in one durable transaction, so a
   * crash can neither lose a notice nor send it twice. A recipient already final is never changed again.
   */
  async settle(updates: readonly RecipientUpdate[], attempts: readonly AttemptRecord[], notices: readonly NewMessage[], now: number): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        const messages = new Set<string>();
        for (const u of updates) {
          await tx.run(
            `UPDATE recipients SET state = ?, next_attempt_at = ?, last_attempt_at = ?, last_reply = ?, status = ?, remote_mta = ?,
               attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, updated_at = ?
             WHERE id = ? AND state IN ${PENDING}`,
            [u.state, u.nextAttemptAt, u.at, u.reply.slice(0, 1000), u.status, u.remoteMta, now, u.id],
          );
        }
        for (const a of attempts) {
          messages.add(a.messageId);
          await tx.run(
            `INSERT INTO delivery_attempts (message_id, domain, recipients, delivered, at, mx, remote_ip, source_ip, tls_version, tls_cipher, reply, outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [a.messageId, a.domain, a.recipients.join(','), a.delivered, a.at, a.mx, a.remoteIp, a.sourceIp, a.tlsVersion, a.tlsCipher, a.reply.slice(0, 1000), a.outcome],
          );
        }
        for (const notice of notices) await insertMessage(tx, notice);
        for (const id of messages) await markFinished(tx, id, now);
      },
      { durable: true },
    );
  }

  /** Extends this node's leases on recipients still being delivered, so no node (this one included) takes them. */
  async renewLeases(ids: readonly number[], owner: string, leaseUntil: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.run(
      `UPDATE recipients SET lease_until = ?, next_attempt_at = ? WHERE lease_owner = ? AND state IN ${PENDING} AND id IN (${ids.map(() => '?').join(', ')})`,
      [leaseUntil, leaseUntil, owner, ...ids],
    );
  }

  /** Gives claimed recipients back (shutdown): due again at once. */
  async release(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.run(
      `UPDATE recipients SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ? WHERE id IN (${ids.map(() => '?').join(', ')}) AND state IN ${PENDING}`,
      [now, ...ids],
    );
  }

  async pendingRecipients(messageId: string): Promise<PendingRecipient[]> {
    const rows = await this.db.all<{
      id: number;
      address: string;
      orcpt: string | null;
      notify: string | null;
      status: string | null;
      last_reply: string | null;
      remote_mta: string | null;
      last_attempt_at: number | null;
    }>(
      `SELECT id, address, orcpt, notify, status, last_reply, remote_mta, last_attempt_at FROM recipients
       WHERE message_id = ? AND state IN ${PENDING} ORDER BY id`,
      [messageId],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      address: r.address,
      orcpt: r.orcpt,
      notify: r.notify,
      status: r.status,
      lastReply: r.last_reply,
      remoteMta: r.remote_mta,
      lastAttemptAt: r.last_attempt_at === null ? null : Number(r.last_attempt_at),
    }));
  }

  /** Messages whose delay notice is due: old enough, not finished, not already told, with a sender to tell. */
  async dueDelayNotices(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.all<{ id: string }>(
      `SELECT id FROM messages WHERE delay_notice_sent = 0 AND delay_notice_at <= ? AND finished_at IS NULL ORDER BY delay_notice_at LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  /** Marks the delay notice sent and queues it (if any) atomically; false if another node was first. */
  async recordDelayNotice(messageId: string, notice: NewMessage | null): Promise<boolean> {
    return this.db.transaction(
      async (tx) => {
        const marked = await tx.run('UPDATE messages SET delay_notice_sent = 1 WHERE id = ? AND delay_notice_sent = 0', [messageId]);
        if (marked.changes === 0) return false;
        if (notice) await insertMessage(tx, notice);
        return true;
      },
      { durable: true },
    );
  }

  async avoidIp(a: IpAvoidance): Promise<void> {
    await this.db.run(
      `INSERT INTO ip_avoidance (source_ip, destination, until_at, reason) VALUES (?, ?, ?, ?)
       ON CONFLICT (source_ip, destination) DO UPDATE SET until_at = excluded.until_at, reason = excluded.reason`,
      [a.sourceIp, a.destination, a.until, a.reason],
    );
  }

  async avoidances(now: number): Promise<IpAvoidance[]> {
    const rows = await this.db.all<{ source_ip: string; destination: string; until_at: number; reason: string | null }>(
      'SELECT source_ip, destination, until_at, reason FROM ip_avoidance WHERE until_at > ? ORDER BY source_ip, destination',
      [now],
    );
    return rows.map((r) => ({ sourceIp: r.source_ip, destination: r.destination, until: Number(r.until_at), reason: r.reason }));
  }

  async ipActivity(since: number): Promise<IpActivity[]> {
    const sent = await this.db.all<{ source_ip: string; delivered: number }>(
      'SELECT source_ip, SUM(delivered) AS delivered FROM delivery_attempts WHERE at > ? AND source_ip IS NOT NULL GROUP BY source_ip',
      [since],
    );
    const errors = await this.db.all<{ source_ip: string; reply: string; at: number }>(
      `SELECT a.source_ip, a.reply, a.at FROM delivery_attempts a
       JOIN (SELECT source_ip, MAX(at) AS at FROM delivery_attempts WHERE outcome <> 'delivered' AND source_ip IS NOT NULL GROUP BY source_ip) l
         ON l.source_ip = a.source_ip AND l.at = a.at
       WHERE a.outcome <> 'delivered'`,
    );
    const ips = new Set([...sent.map((r) => r.source_ip), ...errors.map((r) => r.source_ip)]);
    return [...ips].map((ip) => {
      const error = errors.find((e) => e.source_ip === ip);
      return {
        sourceIp: ip,
        delivered: Number(sent.find((s) => s.source_ip === ip)?.delivered ?? 0),
        lastError: error?.reply ?? null,
        lastErrorAt: error ? Number(error.at) : null,
      };
    });
  }

  async attempts(messageId: string): Promise<AttemptRecord[]> {
    const rows = await this.db.all<{
      message_id: string;
      domain: string;
      recipients: string;
      delivered: number;
      at: number;
      mx: string | null;
      remote_ip: string | null;
      source_ip: string | null;
      tls_version: string | null;
      tls_cipher: string | null;
      reply: string;
      outcome: string;
    }>('SELECT * FROM delivery_attempts WHERE message_id = ? ORDER BY at, id', [messageId]);
    return rows.map((r) => ({
      messageId: r.message_id,
      domain: r.domain,
      recipients: r.recipients.split(','),
      delivered: Number(r.delivered),
      at: Number(r.at),
      mx: r.mx,
      remoteIp: r.remote_ip,
      sourceIp: r.source_ip,
      tlsVersion: r.tls_version,
      tlsCipher: r.tls_cipher,
      reply: r.reply,
      outcome: r.outcome as AttemptRecord['outcome'],
    }));
  }

  /** Makes pending recipients due now; of one message, or of all. Returns how many. */
  async retryNow(messageId: string | null, now: number): Promise<number> {
    const params: SqlValue[] = [now];
    let sql = `UPDATE recipients SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE state IN ${PENDING}`;
    if (messageId !== null) {
      sql += ' AND message_id = ?';
      params.push(messageId);
    }
    return (await this.db.run(sql, params)).changes;
  }

  async deleteMessage(id: string, notice: NewMessage | null): Promise<boolean> {
    return this.db.transaction(
      async (tx) => {
        const deleted = await tx.run('DELETE FROM messages WHERE id = ?', [id]);
        if (deleted.changes > 0 && notice) await insertMessage(tx, notice);
        return deleted.changes > 0;
      },
      { durable: true },
    );
  }

  async shape(now: number): Promise<ShapeRow[]> {
    const edges = QUEUE_SHAPE_BUCKETS_MINUTES.map((m) => m * 60_000);
    const bounds = [0, ...edges, Number.MAX_SAFE_INTEGER];
    const sums = bounds.slice(0, -1).map((low, i) => `SUM(CASE WHEN age >= ${low} AND age < ${bounds[i + 1]} THEN 1 ELSE 0 END) AS b${i}`);
    const rows = await this.db.all<Record<string, number | string>>(
      `SELECT domain, COUNT(*) AS total, ${sums.join(', ')}
       FROM (SELECT r.domain AS domain, ? - m.created_at AS age FROM recipients r JOIN messages m ON m.id = r.message_id
             WHERE r.state IN ${PENDING}) pending
       GROUP BY domain ORDER BY total DESC, domain`,
      [now],
    );
    return rows.map((r) => ({ domain: String(r.domain), total: Number(r.total), buckets: sums.map((_, i) => Number(r[`b${i}`] ?? 0)) }));
  }

  /** Forgets finished messages and old attempts past the delivery log's retention. */
  async purge(before: number): Promise<number> {
    return this.db.transaction(
      async (tx) => {
        const removed = await tx.run('DELETE FROM messages WHERE finished_at IS NOT NULL AND finished_at < ?', [before]);
        await tx.run('DELETE FROM delivery_attempts WHERE at < ?', [before]);
        await tx.run('DELETE FROM ip_avoidance WHERE until_at < ?', [before]);
        return removed.changes;
      },
      { durable: false },
    );
  }
}

async function markFinished(tx: SqlRunner, messageId: string, now: number): Promise<void> {
  // A finished message will never need a delay notice: marking it keeps it out of the notice scan's index range,
  // which otherwise would walk every delivered message still within the log's retention on each pass.
  await tx.run(
    `UPDATE messages SET finished_at = ?, delay_notice_sent = 1 WHERE id = ? AND finished_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND state IN ${PENDING})`,
    [now, messageId, messageId],
  );
}
