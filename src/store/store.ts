import fs from 'node:fs';
import path from 'node:path';
import { BlocklistStore } from './blocklists.js';
import { ApiTokens } from './api-tokens.js';
import { AuditLog } from './audit-log.js';
import { Logins } from './logins.js';
import { WebSessions } from './web-sessions.js';
import { Subscriptions } from './subscriptions.js';
import { ComplaintRecords } from './complaints.js';
import { BounceRates } from './bounce-rates.js';
import { ClusterRecords } from './cluster-records.js';
import { CredentialHistory } from './credential-history.js';
import { DeliveryQueue } from './delivery-queue.js';
import { DkimKeyStore } from './dkim-keys.js';
import { HeldMail } from './held-mail.js';
import { MetricsReadings } from './metrics-snapshot.js';
import {
  CREDENTIAL_SELECT,
  CUSTOMER_SELECT,
  MESSAGE_SELECT,
  RECIPIENT_SELECT,
  toCredential,
  toCustomer,
  toMessage,
  toPlan,
  type CredentialRow,
  type CustomerRow,
  type MessageRow,
  type PlanRow,
  type RecipientRow,
} from './rows.js';
import { insertMessage } from './insert-message.js';
import { migrate } from './migrations.js';
import { openDatabase, type PoolSettings, type SqlDatabase, type SqlRunner, type SqlValue } from './sql.js';
import type {
  Credential,
  Customer,
  NewMessage,
  Plan,
  QueueFilter,
  QueuedMessage,
  QuotaRequest,
  QuotaSnapshot,
  ReserveResult,
  UsageBucket,
} from './records.js';

/** A uniqueness rule was broken (duplicate customer name or username): the caller's input is at fault. */
export class StoreConflict extends Error {}

/** The SQLite store a command was pointed at does not exist (and the command may not create it). */
export class StoreNotFound extends Error {
  constructor(readonly file: string) {
    super(`no store at ${file}`);
  }
}

/**
 * The one place with SQL. Operations are named for what the business needs; the same code runs on SQLite
 * and PostgreSQL through the SqlDatabase drivers, and the same contract tests run against both.
 */
export class Store {
  readonly delivery: DeliveryQueue;
  readonly history: CredentialHistory;
  readonly blocklists: BlocklistStore;
  readonly dkim: DkimKeyStore;
  readonly complaints: ComplaintRecords;
  readonly tokens: ApiTokens;
  readonly bounces: BounceRates;
  readonly heldMail: HeldMail;
  readonly logins: Logins;
  readonly webSessions: WebSessions;
  readonly audit: AuditLog;
  /** Gauges read at scrape time (queue, suspensions, listings) and the readiness check. */
  readonly metrics: MetricsReadings;
  readonly subscriptions: Subscriptions;
  /** The node registry, the job leases and the record of job runs. */
  readonly cluster: ClusterRecords;

  private constructor(readonly db: SqlDatabase) {
    this.delivery = new DeliveryQueue(db);
    this.history = new CredentialHistory(db);
    this.blocklists = new BlocklistStore(db);
    this.dkim = new DkimKeyStore(db);
    this.complaints = new ComplaintRecords(db);
    this.tokens = new ApiTokens(db);
    this.bounces = new BounceRates(db);
    this.heldMail = new HeldMail(db);
    this.logins = new Logins(db);
    this.webSessions = new WebSessions(db);
    this.audit = new AuditLog(db);
    this.metrics = new MetricsReadings(db);
    this.subscriptions = new Subscriptions(db);
    this.cluster = new ClusterRecords(db);
  }

  /**
   * `create: false` is for every command but `start` and `init`: a command run from the wrong directory, or
   * without the relay's configuration, must not leave a new empty SQLite store behind and print "(none)".
   */
  static async open(url: string, now: number, options: { create?: boolean; pool?: PoolSettings } = {}): Promise<Store> {
    if (options.create === false && url.startsWith('sqlite:')) {
      const file = url.slice('sqlite:'.length);
      if (file !== ':memory:' && !fs.existsSync(file)) throw new StoreNotFound(path.resolve(file));
    }
    const db = await openDatabase(url, options.pool);
    try {
      await migrate(db, now);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return new Store(db);
  }

  get dialect(): SqlDatabase['dialect'] {
    return this.db.dialect;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** A consistent copy of a SQLite store in `file`, which must not exist yet; the relay may keep running. */
  async backup(file: string): Promise<void> {
    if (fs.existsSync(file)) throw new StoreConflict(`${file} already exists: give the backup a new file name`);
    await this.db.backup(file);
  }

  // ---- customers -------------------------------------------------------------------------------------------

  async addCustomer(name: string, email: string, now: number): Promise<Customer> {
    return this.db.transaction(
      async (tx) => {
        if (await tx.get('SELECT id FROM customers WHERE name = ?', [name])) throw new StoreConflict(`customer "${name}" already exists`);
        const row = await tx.get<{ id: number }>('INSERT INTO customers (name, email, created_at) VALUES (?, ?, ?) RETURNING id', [
          name,
          email,
          now,
        ]);
        return { id: Number(row?.id), name, email, createdAt: now, credentialCount: 0 };
      },
      { durable: true },
    );
  }

  async findCustomer(name: string): Promise<Customer | undefined> {
    const row = await this.db.get<CustomerRow>(`${CUSTOMER_SELECT} WHERE c.name = ? GROUP BY c.id, c.name, c.email, c.created_at`, [name]);
    return row && toCustomer(row);
  }

  async listCustomers(): Promise<Customer[]> {
    const rows = await this.db.all<CustomerRow>(`${CUSTOMER_SELECT} GROUP BY c.id, c.name, c.email, c.created_at ORDER BY c.name`);
    return rows.map(toCustomer);
  }

  /** Where and in which language a customer's notices go (language null: the configured default). */
  async customerContact(customerId: number): Promise<{ name: string; email: string; language: string | null } | undefined> {
    return this.db.get<{ name: string; email: string; language: string | null }>('SELECT name, email, language FROM customers WHERE id = ?', [customerId]);
  }

  async setCustomerLanguage(customerId: number, language: string): Promise<void> {
    await this.db.run('UPDATE customers SET language = ? WHERE id = ?', [language, customerId]);
  }

  // ---- credentials -----------------------------------------------------------------------------------------

  async addCredential(customerId: number, username: string, passwordHash: string, now: number): Promise<Credential> {
    await this.db.transaction(
      async (tx) => {
        if (await tx.get('SELECT id FROM credentials WHERE username = ?', [username])) {
          throw new StoreConflict(`username "${username}" is already taken`);
        }
        await tx.run(
          'INSERT INTO credentials (customer_id, username, password_hash, enabled, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)',
          [customerId, username, passwordHash, now, now],
        );
      },
      { durable: true },
    );
    return (await this.findCredential(username)) as Credential;
  }

  async findCredential(username: string): Promise<Credential | undefined> {
    const row = await this.db.get<CredentialRow>(`${CREDENTIAL_SELECT} WHERE k.username = ?`, [username]);
    return row && toCredential(row);
  }

  async credentialById(id: number): Promise<Credential | undefined> {
    const row = await this.db.get<CredentialRow>(`${CREDENTIAL_SELECT} WHERE k.id = ?`, [id]);
    return row && toCredential(row);
  }

  async listCredentials(customerName?: string): Promise<Credential[]> {
    const rows = customerName
      ? await this.db.all<CredentialRow>(`${CREDENTIAL_SELECT} WHERE c.name = ? ORDER BY k.username`, [customerName])
      : await this.db.all<CredentialRow>(`${CREDENTIAL_SELECT} ORDER BY k.username`);
    return rows.map(toCredential);
  }

  async setCredentialEnabled(credentialId: number, enabled: boolean, now: number): Promise<void> {
    await this.db.run('UPDATE credentials SET enabled = ?, updated_at = ? WHERE id = ?', [enabled ? 1 : 0, now, credentialId]);
  }

  async setCredentialPassword(credentialId: number, passwordHash: string, now: number): Promise<void> {
    await this.db.run('UPDATE credentials SET password_hash = ?, updated_at = ? WHERE id = ?', [passwordHash, now, credentialId]);
  }

  async setCredentialHold(credentialId: number, reason: string | null, now: number): Promise<void> {
    await this.db.run('UPDATE credentials SET hold_reason = ?, hold_since = ?, updated_at = ? WHERE id = ?', [
      reason,
      reason === null ? null : now,
      now,
      credentialId,
    ]);
  }

  // ---- plans -----------------------------------------------------------------------------------------------

  async addPlan(credentialId: number, quota: number, startsAt: number, endsAt: number, now: number): Promise<Plan> {
    const row = await this.db.transaction(
      (tx) =>
        tx.get<{ id: number }>('INSERT INTO plans (credential_id, quota, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id', [
          credentialId,
          quota,
          startsAt,
          endsAt,
          now,
        ]),
      { durable: true },
    );
    return { id: Number(row?.id), credentialId, quota, startsAt, endsAt, createdAt: now };
  }

  async listPlans(credentialId: number): Promise<Plan[]> {
    const rows = await this.db.all<PlanRow>(
      'SELECT id, credential_id, quota, starts_at, ends_at, created_at FROM plans WHERE credential_id = ? ORDER BY starts_at, id',
      [credentialId],
    );
    return rows.map(toPlan);
  }

  // ---- quota -----------------------------------------------------------------------------------------------

  /**
   * Checks and reserves in one transaction. On PostgreSQL the credential's row lock serialises every session
   * of every node on that credential; on SQLite the write transaction does.
   */
  async reserveQuota(request: QuotaRequest): Promise<ReserveResult> {
    if (this.db.dialect === 'postgres') return this.reserveQuotaInOneTrip(request);
    return this.db.transaction(
      async (tx) => {
        if (tx.dialect === 'postgres') await tx.run('SELECT id FROM credentials WHERE id = ? FOR UPDATE', [request.credentialId]);
        const snapshot = await readSnapshot(tx, request.credentialId, request.now, request.countFrom, false);
        // The held units include this transaction's own earlier recipients.
        if (snapshot.used + snapshot.held + request.units > snapshot.quota) {
          snapshot.buckets = await readBuckets(tx, request.credentialId, request.countFrom);
          return { granted: false, snapshot };
        }
        let reservationId = request.reservationId;
        if (reservationId !== undefined) {
          const updated = await tx.run('UPDATE quota_reservations SET units = units + ?, expires_at = ? WHERE id = ?', [
            request.units,
            request.expiresAt,
            reservationId,
          ]);
          if (updated.changes === 0) reservationId = undefined;
        }
        if (reservationId === undefined) {
          const row = await tx.get<{ id: number }>(
            'INSERT INTO quota_reservations (credential_id, units, expires_at) VALUES (?, ?, ?) RETURNING id',
            [request.credentialId, request.units, request.expiresAt],
          );
          reservationId = Number(row?.id);
        }
        snapshot.held += request.units;
        return { granted: true, reservationId, snapshot };
      },
      { durable: false },
    );
  }

  /** PostgreSQL: the same check and reservation, done by relais_reserve_quota() in a single round trip. */
  private async reserveQuotaInOneTrip(request: QuotaRequest): Promise<ReserveResult> {
    const row = await this.db.get<{ granted: boolean; reservation_id: number | null; quota: number; used: number; held: number }>(
      'SELECT granted, reservation_id, quota, used, held FROM relais_reserve_quota(?, ?, ?, ?, ?, ?)',
      [request.credentialId, request.units, request.now, request.countFrom, request.expiresAt, request.reservationId ?? null],
    );
    if (!row) throw new Error('relais_reserve_quota returned nothing');
    const snapshot: QuotaSnapshot = { quota: Number(row.quota), used: Number(row.used), held: Number(row.held), buckets: [] };
    if (row.granted) return { granted: true, reservationId: Number(row.reservation_id), snapshot };
    snapshot.buckets = await readBuckets(this.db, request.credentialId, request.countFrom);
    return { granted: false, snapshot };
  }

  async releaseReservation(reservationId: number): Promise<void> {
    await this.db.run('DELETE FROM quota_reservations WHERE id = ?', [reservationId]);
  }

  /** For a store only this process uses (SQLite): reservations left by a crashed run hold nothing any more. */
  async releaseAllReservations(): Promise<void> {
    await this.db.run('DELETE FROM quota_reservations');
  }

  /** Forgets usage buckets that left the window long ago and reservations that expired. */
  async pruneQuota(bucketsBefore: number, now: number): Promise<number> {
    const buckets = await this.db.run('DELETE FROM quota_usage WHERE bucket_start < ?', [bucketsBefore]);
    await this.db.run('DELETE FROM quota_reservations WHERE expires_at <= ?', [now]);
    return buckets.changes;
  }

  async quotaSnapshot(credentialId: number, now: number, countFrom: number): Promise<QuotaSnapshot> {
    return readSnapshot(this.db, credentialId, now, countFrom, true);
  }

  // ---- queue -----------------------------------------------------------------------------------------------

  /**
   * Commits a batch of accepted messages in one fsynced transaction (group commit): bodies, recipients, and
   * the quota units turned from held into used. Resolves only once all of it is on disk.
   */
  async enqueue(messages: readonly NewMessage[]): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        for (const message of messages) await insertMessage(tx, message);
      },
      { durable: true },
    );
  }

  async listQueue(filter: QueueFilter = {}): Promise<QueuedMessage[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.state) {
      where.push('m.id IN (SELECT message_id FROM recipients WHERE state = ?)');
      params.push(filter.state);
    }
    if (filter.domain) {
      where.push('m.id IN (SELECT message_id FROM recipients WHERE domain = ?)');
      params.push(filter.domain.toLowerCase());
    }
    if (filter.username) {
      where.push('k.username = ?');
      params.push(filter.username);
    }
    if (filter.recipientContains) {
      where.push("m.id IN (SELECT message_id FROM recipients WHERE LOWER(address) LIKE ? ESCAPE '\\')");
      params.push(containsPattern(filter.recipientContains));
    }
    if (filter.senderContains) {
      where.push("LOWER(m.mail_from) LIKE ? ESCAPE '\\'");
      params.push(containsPattern(filter.senderContains));
    }
    if (filter.customerId !== undefined) {
      where.push('(k.customer_id = ? OR b.customer_id = ?)');
      params.push(filter.customerId, filter.customerId);
    }
    if (filter.recipient !== undefined) {
      where.push('m.id IN (SELECT message_id FROM recipients WHERE LOWER(address) = ?)');
      params.push(filter.recipient.toLowerCase());
    }
    if (filter.sender !== undefined) {
      where.push('LOWER(m.mail_from) = ?');
      params.push(filter.sender.toLowerCase());
    }
    if (filter.queueId !== undefined) {
      where.push('m.id = ?');
      params.push(filter.queueId);
    }
    if (filter.headerMessageId !== undefined) {
      // Stored as the header has it, brackets included; people paste it with or without them.
      const bare = filter.headerMessageId.trim().replace(/^<|>$/g, '');
      where.push('m.header_message_id = ?');
      params.push(`<${bare}>`);
    }
    params.push(filter.limit ?? 1000);
    const order = filter.order === 'newest' ? 'm.created_at DESC, m.id DESC' : 'm.created_at, m.id';
    const rows = await this.db.all<MessageRow>(
      `${MESSAGE_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`,
      params,
    );
    if (rows.length === 0) return [];
    const recipients = await this.db.all<RecipientRow>(
      `${RECIPIENT_SELECT} WHERE message_id IN (${rows.map(() => '?').join(', ')}) ORDER BY id`,
      rows.map((r) => r.id),
    );
    // Grouped once: filtering per message would be quadratic on a queue listing of thousands.
    const byMessage = new Map<string, RecipientRow[]>();
    for (const r of recipients) {
      const list = byMessage.get(r.message_id);
      if (list) list.push(r);
      else byMessage.set(r.message_id, [r]);
    }
    return rows.map((row) => toMessage(row, byMessage.get(row.id) ?? []));
  }

  async findMessage(id: string): Promise<QueuedMessage | undefined> {
    const row = await this.db.get<MessageRow>(`${MESSAGE_SELECT} WHERE m.id = ?`, [id]);
    if (!row) return undefined;
    const recipients = await this.db.all<RecipientRow>(`${RECIPIENT_SELECT} WHERE message_id = ? ORDER BY id`, [id]);
    return toMessage(row, recipients);
  }

  async messageBody(id: string): Promise<Buffer | undefined> {
    const row = await this.db.get<{ body: Buffer }>('SELECT body FROM message_bodies WHERE message_id = ?', [id]);
    return row?.body;
  }

  async countMessages(): Promise<number> {
    const row = await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM messages');
    return Number(row?.n ?? 0);
  }
}

/** A LIKE pattern matching text that contains `part` (any case), its wildcards taken literally. */
function containsPattern(part: string): string {
  return `%${part.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

async function readSnapshot(db: SqlRunner, credentialId: number, now: number, countFrom: number, withBuckets: boolean): Promise<QuotaSnapshot> {
  // One statement, so one snapshot: an enqueue that turns held units into used ones commits both changes at
  // once, and reading them in two statements could see neither (and let a concurrent session over the quota).
  const row = await db.get<{ q: number | null; u: number | null; h: number | null }>(
    `SELECT
       (SELECT SUM(quota) FROM plans WHERE credential_id = ? AND starts_at <= ? AND ends_at > ?) AS q,
       (SELECT SUM(units) FROM quota_usage WHERE credential_id = ? AND bucket_start > ?) AS u,
       (SELECT SUM(units) FROM quota_reservations WHERE credential_id = ? AND expires_at > ?) AS h`,
    [credentialId, now, now, credentialId, countFrom, credentialId, now],
  );
  return {
    quota: Number(row?.q ?? 0),
    used: Number(row?.u ?? 0),
    held: Number(row?.h ?? 0),
    buckets: withBuckets ? await readBuckets(db, credentialId, countFrom) : [],
  };
}

async function readBuckets(db: SqlRunner, credentialId: number, countFrom: number): Promise<UsageBucket[]> {
  const rows = await db.all<{ bucket_start: number; units: number }>(
    'SELECT bucket_start, units FROM quota_usage WHERE credential_id = ? AND bucket_start > ? ORDER BY bucket_start',
    [credentialId, countFrom],
  );
  return rows.map((r) => ({ bucketStart: Number(r.bucket_start), units: Number(r.units) }));
}
