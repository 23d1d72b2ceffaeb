import { randomBytes } from 'node:crypto';
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
import type { Dialect, SqlDatabase, SqlRunner, SqlValue } from './sql.js';
import { countOutcomes, type SettledRow } from './bounce-rates.js';
import { HELD_BY_SUSPENSION, holdMessages } from './held-mail.js';
import { insertMessage } from './insert-message.js';

const PENDING = "('queued', 'deferred')";
/** The other states of RecipientState: NOT IN these is PENDING in a form no index is chosen for. */
const FINAL = "('delivered', 'failed', 'held')";
/** Not final yet: due for delivery, or held while its credential is suspended. */
const UNFINISHED = "('queued', 'deferred', 'held')";

/**
 * The due recipients a claim takes, oldest due first, through the partial index recipients_pending_due walked in
 * next_attempt_at order: no sort of every due row, and delivered or failed rows are not even in it. The WHERE
 * repeats the index's predicate word for word, which PostgreSQL's planner needs to use a partial index; SQLite,
 * without ANALYZE statistics, would still pick recipients(state, next_attempt_at) and sort, so it is told.
 * test/store/query-plans.test.ts checks both plans. A lease still running is never taken, whatever
 * next_attempt_at says. Parameters: now, now, limit.
 */
export function claimCandidates(dialect: Dialect, extraConditions = ''): string {
  const index = dialect === 'sqlite' ? ' INDEXED BY recipients_pending_due' : '';
  return `SELECT id FROM recipients${index} WHERE state IN ${PENDING} AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)${extraConditions}
  ORDER BY next_attempt_at LIMIT ?`;
}

/** Rows per statement of a large update or delete: a few milliseconds each on SQLite (see npm run bench:queue). */
const BATCH_ROWS = 1000;

/** One batch of the delivery log's purge, through delivery_attempts_by_at. Parameter: before. */
export const PURGE_ATTEMPTS_SQL = `DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE at < ? ORDER BY at LIMIT ${BATCH_ROWS})`;
/** Messages per purge statement: each takes its body and recipients with it. */
const PURGE_MESSAGES = 100;
/** Ids per IN list, far below SQLite's (32766) and PostgreSQL's (65535) bind-parameter limits. */
const ID_CHUNK = 500;

/**
 * The owner written on a process's leases: its node's name, then this process's own instance, so a restarted
 * node (same name) can free what its dead predecessor held, and yet neither process can settle or renew the
 * other's leases should both ever run at once.
 */
export function leaseOwner(node: string): string {
  return `${node}/${process.pid}.${randomBytes(4).toString('hex')}`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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
          `UPDATE recipients SET lease_owner = ?, lease_until = ?, next_attempt_at = ?, retry_asked = 0
           WHERE id IN (${claimCandidates(this.db.dialect, skipSql)} ${lock})
           RETURNING id, message_id, address, domain, orcpt, notify, attempts`,
          [owner, leaseUntil, leaseUntil, now, now, ...skipParams, limit],
        );
        const ids = [...new Set(rows.map((r) => r.message_id))];
        const credentials = ids.length
          ? await tx.all<{ id: string; credential_id: number | null; held: number }>(
              `SELECT m.id, m.credential_id, CASE WHEN ${HELD_BY_SUSPENSION} THEN 1 ELSE 0 END AS held
               FROM messages m LEFT JOIN credentials k ON k.id = m.credential_id WHERE m.id IN (${ids.map(() => '?').join(', ')})`,
              ids,
            )
          : [];
        // Mail of a credential suspended after it passed MAIL FROM: held here rather than delivered (see held-mail.ts).
        const held = credentials.filter((c) => Number(c.held) === 1).map((c) => c.id);
        if (held.length) await holdMessages(tx, held, now, owner);
        return { rows: held.length ? rows.filter((r) => !held.includes(r.message_id)) : rows, credentials };
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
      leaseOwner: owner,
      credentialId: credentialOf.get(r.message_id) ?? null,
    }));
  }

  async message(id: string): Promise<DeliveryMessage | undefined> {
    return (await this.readMessage(id, false))?.message;
  }

  /** The message and its body in one statement: a delivery job needs both, and a round trip less per job counts. */
  async messageWithBody(id: string): Promise<{ message: DeliveryMessage; body: Buffer } | undefined> {
    const read = await this.readMessage(id, true);
    return read?.body ? { message: read.message, body: read.body } : undefined;
  }

  private async readMessage(id: string, withBody: boolean): Promise<{ message: DeliveryMessage; body: Buffer | null } | undefined> {
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
      body: Buffer | null;
    }>(
      `SELECT m.id, m.credential_id, m.kind, m.mail_from, m.envid, m.ret, m.created_at, m.retry_every, m.give_up_at, m.delay_notice_at,
         m.delay_notice_sent, ${withBody ? 'b.body' : 'NULL AS body'}
       FROM messages m${withBody ? ' LEFT JOIN message_bodies b ON b.message_id = m.id' : ''} WHERE m.id = ?`,
      [id],
    );
    if (!r) return undefined;
    const message: DeliveryMessage = {
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
    return { message, body: r.body };
  }


  /**
   * Writes outcomes, the attempts that led to them and any failure notices in one durable transaction, so a
   * crash can neither lose a notice nor send it twice. Only `owner`, the lease holder, changes a recipient: a
   * node whose lease ran out (and was taken over) must not overwrite the outcome of the node that took over.
   * A recipient already final is never changed again. Another pending row of the same message and address
   * under the same lease (a duplicate RCPT queued before submission removed them) gets the same outcome, since
   * one SMTP transaction delivered to that address once for both. Returns the ids of the updates that took effect.
   */
  async settle(
    updates: readonly RecipientUpdate[],
    attempts: readonly AttemptRecord[],
    notices: readonly NewMessage[],
    now: number,
    owner: string,
  ): Promise<Set<number>> {
    return this.db.transaction(
      async (tx) => {
        const messages = new Set<string>();
        const outcomes: SettledRow[] = [];
        /** The updates that took effect (their lease was still this owner's), for the caller's counts. */
        const applied = new Set<number>();
        let settled = 0;
        for (const u of updates) {
          // An operator's retry that came while this was leased takes effect now that the lease ends.
          const retried = u.state === 'deferred' ? Math.min(u.nextAttemptAt, now) : u.nextAttemptAt;
          const rows = await tx.all<{ message_id: string; attempts: number; state: string }>(
            `UPDATE recipients SET state = ?, next_attempt_at = CASE WHEN retry_asked = 1 THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END,
               last_attempt_at = ?, last_reply = ?, status = ?, remote_mta = ?,
               attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, retry_asked = 0, updated_at = ?
             WHERE id IN (SELECT d.id FROM recipients r JOIN recipients d ON d.message_id = r.message_id WHERE r.id = ? AND (d.id = r.id OR d.address = r.address))
               AND state IN ${PENDING} AND lease_owner = ?
             RETURNING message_id, attempts, state`,
            [u.state, retried, u.nextAttemptAt, u.at, u.reply.slice(0, 1000), u.status, u.remoteMta, now, u.id, owner],
          );
          settled += rows.length;
          if (rows.length > 0) applied.add(u.id);
          // A recipient can fail with no attempt to record (no route, give-up): its message may be finished too.
          for (const r of rows) {
            messages.add(r.message_id);
            outcomes.push({ messageId: r.message_id, attempts: Number(r.attempts), state: r.state });
          }
        }
        await countOutcomes(tx, outcomes);
        for (const a of attempts) {
          messages.add(a.messageId);
          await tx.run(
            `INSERT INTO delivery_attempts (message_id, domain, recipients, delivered, at, mx, remote_ip, source_ip, tls_version, tls_cipher, reply, outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [a.messageId, a.domain, a.recipients.join(','), a.delivered, a.at, a.mx, a.remoteIp, a.sourceIp, a.tlsVersion, a.tlsCipher, a.reply.slice(0, 1000), a.outcome],
          );
        }
        // Outcomes that all lost their lease belong to the node that took over: so do the notices about them.
        if (updates.length === 0 || settled > 0) for (const notice of notices) await insertMessage(tx, notice);
        for (const id of messages) await markFinished(tx, id, now);
        return applied;
      },
      { durable: true },
    );
  }

  /** Extends this node's leases on recipients still being delivered, so no node (this one included) takes them. */
  async renewLeases(ids: readonly number[], owner: string, leaseUntil: number): Promise<void> {
    for (const chunk of chunks(ids, ID_CHUNK)) {
      await this.db.run(
        `UPDATE recipients SET lease_until = ?, next_attempt_at = ? WHERE lease_owner = ? AND state IN ${PENDING} AND id IN (${chunk.map(() => '?').join(', ')})`,
        [leaseUntil, leaseUntil, owner, ...chunk],
      );
      if (ids.length > ID_CHUNK) await yieldToEventLoop();
    }
  }

  /** Gives claimed recipients back (shutdown): due again at once. Only the lease holder can. */
  async release(ids: readonly number[], now: number, owner: string): Promise<void> {
    for (const chunk of chunks(ids, ID_CHUNK)) {
      await this.db.run(
        `UPDATE recipients SET lease_owner = NULL, lease_until = NULL, retry_asked = 0, next_attempt_at = ?
         WHERE id IN (${chunk.map(() => '?').join(', ')}) AND state IN ${PENDING} AND lease_owner = ?`,
        [now, ...chunk, owner],
      );
      if (ids.length > ID_CHUNK) await yieldToEventLoop();
    }
  }

  /**
   * At the end of a stop: whatever this process (`owner`) still holds, such as recipients whose outcome the
   * store refused to record, is due again at once for the other nodes rather than when its lease ends.
   */
  async releaseOwner(owner: string, now: number): Promise<number> {
    return this.freeLeases('lease_owner IS NOT NULL AND lease_owner = ?', [owner], now);
  }

  /**
   * At start: what an earlier process of this node held is due now, not when its lease would have ended. The
   * owner of a lease is `node/instance` (leaseOwner()), so this frees every instance of `node` but never another
   * node's work; hence node names must be unique in a cluster. With `everyNode` (SQLite, a store only one node
   * uses) every lease is released. Returns how many recipients were freed.
   */
  async releaseNodeLeases(node: string, now: number, everyNode = false): Promise<number> {
    const prefix = `${node}/`;
    // "lease_owner IS NOT NULL" as written in the partial index recipients_leased, so only leased rows are read (a
    // state condition would have SQLite walk every pending row instead). Only pending rows are ever leased.
    const mine = everyNode ? 'lease_owner IS NOT NULL' : 'lease_owner IS NOT NULL AND substr(lease_owner, 1, CAST(? AS INTEGER)) = ?';
    const params: SqlValue[] = everyNode ? [] : [[...prefix].length, prefix];
    return this.freeLeases(mine, params, now);
  }

  /** Leased rows matching `mine` become free, and pending ones due at `now`; in batches, yielding between them. */
  private async freeLeases(mine: string, params: SqlValue[], now: number): Promise<number> {
    let freed = 0;
    for (;;) {
      const n = (
        await this.db.run(
          `UPDATE recipients SET lease_owner = NULL, lease_until = NULL, retry_asked = 0,
             next_attempt_at = CASE WHEN state IN ${PENDING} THEN CAST(? AS BIGINT) ELSE next_attempt_at END
           WHERE id IN (SELECT id FROM recipients WHERE ${mine} LIMIT ${BATCH_ROWS})`,
          [now, ...params],
        )
      ).changes;
      freed += n;
      if (n < BATCH_ROWS) return freed;
      await yieldToEventLoop();
    }
  }

  /** Recipients not final yet, held ones included: a failure notice on deletion names them too. */
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
       WHERE message_id = ? AND state IN ${UNFINISHED} ORDER BY id`,
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

  /** Messages whose delay notice is due: old enough, not finished, not held (its clock is stopped), not already told. */
  async dueDelayNotices(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.all<{ id: string }>(
      `SELECT id FROM messages WHERE delay_notice_sent = 0 AND delay_notice_at <= ? AND finished_at IS NULL AND held_at IS NULL ORDER BY delay_notice_at LIMIT ?`,
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

  /**
   * Makes pending recipients due now; of one message, or of all. Returns how many. A recipient being delivered
   * keeps its lease (clearing it would let another node send it a second time): its retry is noted and takes
   * effect when the lease ends, by settle() if the delivery is deferred, or by the lease running out.
   */
  async retryNow(messageId: string | null, now: number): Promise<number> {
    const set = `next_attempt_at = CASE WHEN lease_until > ? THEN next_attempt_at ELSE ? END,
      retry_asked = CASE WHEN lease_until > ? THEN 1 ELSE 0 END`;
    if (messageId !== null) {
      return (await this.db.run(`UPDATE recipients SET ${set} WHERE message_id = ? AND state IN ${PENDING}`, [now, now, now, messageId])).changes;
    }
    // The whole queue may be a million rows: in batches by id, so neither SQLite nor the event loop stalls.
    let changed = 0;
    let after = 0;
    for (;;) {
      // A range of the primary key, whatever the states in it: a state condition here would let the planner walk
      // recipients_due and sort every pending row on each batch.
      const ids = await this.db.all<{ id: number }>(`SELECT id FROM recipients WHERE id > ? ORDER BY id LIMIT ${BATCH_ROWS}`, [after]);
      if (ids.length === 0) return changed;
      after = Number(ids[ids.length - 1]?.id);
      // "state IN (pending)" here would make SQLite's planner walk recipients_due for every batch rather than take
      // these ids: the final states are excluded instead, a condition no index serves.
      const list = ids.map((r) => Number(r.id));
      changed += (
        await this.db.run(`UPDATE recipients SET ${set} WHERE id IN (${list.map(() => '?').join(', ')}) AND state NOT IN ${FINAL}`, [now, now, now, ...list])
      ).changes;
      await yieldToEventLoop();
    }
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

  /**
   * Forgets finished messages and old attempts past the delivery log's retention. In batches, each its own short
   * transaction, with a turn of the event loop between them: SQLite is synchronous, and one statement deleting a
   * month of log would stop the relay for seconds.
   */
  async purge(before: number): Promise<number> {
    const removed = await this.inBatches(
      `DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ${PURGE_MESSAGES})`,
      [before],
      PURGE_MESSAGES,
    );
    await this.inBatches(PURGE_ATTEMPTS_SQL, [before], BATCH_ROWS);
    await this.inBatches(
      `DELETE FROM ip_avoidance WHERE (source_ip, destination) IN (SELECT source_ip, destination FROM ip_avoidance WHERE until_at < ? LIMIT ${BATCH_ROWS})`,
      [before],
      BATCH_ROWS,
    );
    return removed;
  }

  private async inBatches(sql: string, params: readonly SqlValue[], batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.db.run(sql, params)).changes;
      total += n;
      if (n < batch) return total;
      await yieldToEventLoop();
    }
  }
}

async function markFinished(tx: SqlRunner, messageId: string, now: number): Promise<void> {
  // A finished message will never need a delay notice: marking it keeps it out of the notice scan's index range,
  // which otherwise would walk every delivered message still within the log's retention on each pass.
  await tx.run(
    `UPDATE messages SET finished_at = ?, delay_notice_sent = 1 WHERE id = ? AND finished_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND state IN ${UNFINISHED})`,
    [now, messageId, messageId],
  );
}
