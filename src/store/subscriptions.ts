import { insertMessage } from './insert-message.js';
import type { NewMessage } from './records.js';
import type { SqlDatabase, SqlRunner } from './sql.js';

export type SubscriptionStatus = 'active' | 'expired';

export interface Subscription {
  id: number;
  credentialId: number;
  username: string;
  customerId: number;
  customer: string;
  offer: string;
  quota: number;
  price: string;
  termStart: number;
  /** Exclusive: the next term starts at this instant. */
  termEnd: number;
  /** A downgrade asked for the next term. */
  nextOffer: string | null;
  nextOfferRequestedAt: number | null;
  /** `expired`: the term ended without a validated renewal (the credential is suspended "expired"). */
  status: SubscriptionStatus;
  createdAt: number;
}

export interface RenewalOrder {
  id: number;
  subscriptionId: number;
  termStart: number;
  termEnd: number;
  createdAt: number;
  /** The offer the new term was validated with. */
  offer: string | null;
  validatedAt: number | null;
  validatedBy: string | null;
}

/** An offer as it applies to a term: its name, quota and price at the time. */
export interface OfferTerms {
  offer: string;
  quota: number;
  price: string;
}

interface SubscriptionRow {
  id: number;
  credential_id: number;
  username: string;
  customer_id: number;
  customer: string;
  offer: string;
  quota: number;
  price: string;
  term_start: number;
  term_end: number;
  next_offer: string | null;
  next_offer_requested_at: number | null;
  status: string;
  created_at: number;
}

interface OrderRow {
  id: number;
  subscription_id: number;
  term_start: number;
  term_end: number;
  created_at: number;
  offer: string | null;
  validated_at: number | null;
  validated_by: string | null;
}

const SELECT = `SELECT s.id, s.credential_id, k.username, k.customer_id, c.name AS customer, s.offer, s.quota, s.price, s.term_start,
  s.term_end, s.next_offer, s.next_offer_requested_at, s.status, s.created_at
  FROM subscriptions s JOIN credentials k ON k.id = s.credential_id JOIN customers c ON c.id = k.customer_id`;

const ORDER_SELECT = 'SELECT id, subscription_id, term_start, term_end, created_at, offer, validated_at, validated_by FROM renewal_orders';

const nullableNumber = (v: number | null): number | null => (v === null ? null : Number(v));

const toSubscription = (r: SubscriptionRow): Subscription => ({
  id: Number(r.id),
  credentialId: Number(r.credential_id),
  username: r.username,
  customerId: Number(r.customer_id),
  customer: r.customer,
  offer: r.offer,
  quota: Number(r.quota),
  price: r.price,
  termStart: Number(r.term_start),
  termEnd: Number(r.term_end),
  nextOffer: r.next_offer,
  nextOfferRequestedAt: nullableNumber(r.next_offer_requested_at),
  status: r.status === 'expired' ? 'expired' : 'active',
  createdAt: Number(r.created_at),
});

const toOrder = (r: OrderRow): RenewalOrder => ({
  id: Number(r.id),
  subscriptionId: Number(r.subscription_id),
  termStart: Number(r.term_start),
  termEnd: Number(r.term_end),
  createdAt: Number(r.created_at),
  offer: r.offer,
  validatedAt: nullableNumber(r.validated_at),
  validatedBy: r.validated_by,
});

function addPlan(tx: SqlRunner, credentialId: number, subscriptionId: number, quota: number, startsAt: number, endsAt: number, now: number) {
  return tx.run('INSERT INTO plans (credential_id, quota, starts_at, ends_at, created_at, subscription_id) VALUES (?, ?, ?, ?, ?, ?)', [
    credentialId,
    quota,
    startsAt,
    endsAt,
    now,
    subscriptionId,
  ]);
}

/** Subscriptions around plans: each term of a subscription is a plan row carrying its id. */
export class Subscriptions {
  constructor(private readonly db: SqlDatabase) {}

  /** The subscription and its first term's plan, together. */
  async add(credentialId: number, terms: OfferTerms, termStart: number, termEnd: number, now: number): Promise<Subscription> {
    const id = await this.db.transaction(
      async (tx) => {
        const row = await tx.get<{ id: number }>(
          `INSERT INTO subscriptions (credential_id, offer, quota, price, term_start, term_end, status, created_at)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?) RETURNING id`,
          [credentialId, terms.offer, terms.quota, terms.price, termStart, termEnd, now],
        );
        const id = Number(row?.id);
        await addPlan(tx, credentialId, id, terms.quota, termStart, termEnd, now);
        return id;
      },
      { durable: true },
    );
    return (await this.find(id)) as Subscription;
  }

  async find(id: number): Promise<Subscription | undefined> {
    const row = await this.db.get<SubscriptionRow>(`${SELECT} WHERE s.id = ?`, [id]);
    return row && toSubscription(row);
  }

  async list(filter: { credentialId?: number; customerId?: number } = {}): Promise<Subscription[]> {
    const where: string[] = [];
    const params: number[] = [];
    if (filter.credentialId !== undefined) (where.push('s.credential_id = ?'), params.push(filter.credentialId));
    if (filter.customerId !== undefined) (where.push('k.customer_id = ?'), params.push(filter.customerId));
    const rows = await this.db.all<SubscriptionRow>(`${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.id`, params);
    return rows.map(toSubscription);
  }

  /** Subscriptions whose end date is before `before`: the ones the lifecycle job has something to do for. */
  async endingBefore(before: number): Promise<Subscription[]> {
    const rows = await this.db.all<SubscriptionRow>(`${SELECT} WHERE s.term_end <= ? ORDER BY s.term_end, s.id`, [before]);
    return rows.map(toSubscription);
  }

  /**
   * An upgrade, at once: the subscription takes the bigger offer, and a plan of the quota difference covers the
   * rest of the term (the earlier plan stays, so the history shows both).
   */
  async upgrade(id: number, terms: OfferTerms, now: number): Promise<void> {
    await this.db.transaction(
      async (tx) => {
        const s = await tx.get<SubscriptionRow>(`${SELECT} WHERE s.id = ?`, [id]);
        if (!s) return;
        await tx.run('UPDATE subscriptions SET offer = ?, quota = ?, price = ?, next_offer = NULL, next_offer_requested_at = NULL WHERE id = ?', [
          terms.offer,
          terms.quota,
          terms.price,
          id,
        ]);
        const extra = terms.quota - Number(s.quota);
        if (extra > 0 && Number(s.term_end) > now) await addPlan(tx, Number(s.credential_id), id, extra, now, Number(s.term_end), now);
      },
      { durable: true },
    );
  }

  async requestNextOffer(id: number, offer: string | null, now: number): Promise<void> {
    await this.db.run('UPDATE subscriptions SET next_offer = ?, next_offer_requested_at = ? WHERE id = ?', [offer, offer === null ? null : now, id]);
  }

  /** The renewal order of the term that follows the current one, made once. Returns it and whether it is new. */
  async openOrder(s: Subscription, nextEnd: number, now: number): Promise<{ order: RenewalOrder; created: boolean }> {
    return this.db.transaction(
      async (tx) => {
        const existing = await tx.get<OrderRow>(`${ORDER_SELECT} WHERE subscription_id = ? AND term_start = ?`, [s.id, s.termEnd]);
        if (existing) return { order: toOrder(existing), created: false };
        const row = await tx.get<OrderRow>(
          `INSERT INTO renewal_orders (subscription_id, term_start, term_end, created_at) VALUES (?, ?, ?, ?)
           RETURNING id, subscription_id, term_start, term_end, created_at, offer, validated_at, validated_by`,
          [s.id, s.termEnd, nextEnd, now],
        );
        return { order: toOrder(row as OrderRow), created: true };
      },
      { durable: true },
    );
  }

  async findOrder(id: number): Promise<RenewalOrder | undefined> {
    const row = await this.db.get<OrderRow>(`${ORDER_SELECT} WHERE id = ?`, [id]);
    return row && toOrder(row);
  }

  async orderFor(subscriptionId: number, termStart: number): Promise<RenewalOrder | undefined> {
    const row = await this.db.get<OrderRow>(`${ORDER_SELECT} WHERE subscription_id = ? AND term_start = ?`, [subscriptionId, termStart]);
    return row && toOrder(row);
  }

  async listOrders(filter: { open?: boolean; customerId?: number } = {}): Promise<RenewalOrder[]> {
    const where: string[] = [];
    const params: number[] = [];
    if (filter.open) where.push('o.validated_at IS NULL');
    if (filter.customerId !== undefined) (where.push('k.customer_id = ?'), params.push(filter.customerId));
    const rows = await this.db.all<OrderRow>(
      `SELECT o.id, o.subscription_id, o.term_start, o.term_end, o.created_at, o.offer, o.validated_at, o.validated_by
         FROM renewal_orders o JOIN subscriptions s ON s.id = o.subscription_id JOIN credentials k ON k.id = s.credential_id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY o.term_start, o.id`,
      params,
    );
    return rows.map(toOrder);
  }

  /**
   * Validates an order: the next term's plan is added now (it starts at the order's term start, so a renewal
   * validated early changes nothing today). Returns false when it was validated meanwhile.
   */
  async validateOrder(order: RenewalOrder, credentialId: number, terms: OfferTerms, by: string, now: number): Promise<boolean> {
    return this.db.transaction(
      async (tx) => {
        const done = await tx.run('UPDATE renewal_orders SET validated_at = ?, validated_by = ?, offer = ? WHERE id = ? AND validated_at IS NULL', [
          now,
          by,
          terms.offer,
          order.id,
        ]);
        if (done.changes === 0) return false;
        await addPlan(tx, credentialId, order.subscriptionId, terms.quota, order.termStart, order.termEnd, now);
        return true;
      },
      { durable: true },
    );
  }

  /** The subscription moves into its validated next term. */
  async startTerm(id: number, terms: OfferTerms, termStart: number, termEnd: number): Promise<void> {
    await this.db.run(
      `UPDATE subscriptions SET offer = ?, quota = ?, price = ?, term_start = ?, term_end = ?, next_offer = NULL, next_offer_requested_at = NULL,
         status = 'active' WHERE id = ?`,
      [terms.offer, terms.quota, terms.price, termStart, termEnd, id],
    );
  }

  async setStatus(id: number, status: SubscriptionStatus): Promise<void> {
    await this.db.run('UPDATE subscriptions SET status = ? WHERE id = ?', [status, id]);
  }

  /**
   * Claims a notice (kind, for one term of one subscription) and queues its mail in the same transaction: false
   * when it was claimed before, and then nothing is queued. This is what makes running the job twice send nothing twice.
   */
  async sendNoticeOnce(subscriptionId: number, kind: string, termEnd: number, now: number, message: NewMessage | null): Promise<boolean> {
    return this.db.transaction(
      async (tx) => {
        const claimed = await tx.run(
          'INSERT INTO lifecycle_notices (subscription_id, kind, term_end, sent_at, queue_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          [subscriptionId, kind, termEnd, now, message?.id ?? null],
        );
        if (claimed.changes === 0) return false;
        if (message) await insertMessage(tx, message);
        return true;
      },
      { durable: true },
    );
  }

  async noticesSent(subscriptionId: number): Promise<{ kind: string; termEnd: number; sentAt: number; queueId: string | null }[]> {
    const rows = await this.db.all<{ kind: string; term_end: number; sent_at: number; queue_id: string | null }>(
      'SELECT kind, term_end, sent_at, queue_id FROM lifecycle_notices WHERE subscription_id = ? ORDER BY sent_at, kind',
      [subscriptionId],
    );
    return rows.map((r) => ({ kind: r.kind, termEnd: Number(r.term_end), sentAt: Number(r.sent_at), queueId: r.queue_id }));
  }
}
