import type { QueuedMessage } from './records.js';
import { MESSAGE_SELECT, RECIPIENT_SELECT, toMessage, type MessageRow, type RecipientRow } from './rows.js';
import type { SqlDatabase, SqlValue } from './sql.js';

/**
 * Customers' messages as the console lists them: newest first, each with the customer it belongs to, filtered by
 * what a person types (part of a recipient, of the sender, of the Message-ID). A notice Relais wrote about a
 * credential's mail belongs to that credential's customer; Relais's own mail (alerts) to no customer.
 */
export interface MessageSearch {
  /** Only this customer's messages; undefined: every customer's (staff). */
  customerId?: number;
  /** One message by its queue id. */
  id?: string;
  /** Part of a recipient address (case-insensitive). */
  recipient?: string;
  /** Part of the envelope sender. */
  sender?: string;
  /** Part of the Message-ID header (with or without its angle brackets). */
  messageId?: string;
  /** Any of the above, or the queue id. */
  any?: string;
  limit?: number;
}

export interface FoundMessage {
  message: QueuedMessage;
  customerId: number;
  customer: string;
  headerMessageId: string | null;
}

/** `%`, `_` and the escape itself are literal in what a person searches for. */
const contains = (text: string): string => `%${text.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export async function searchMessages(db: SqlDatabase, search: MessageSearch): Promise<FoundMessage[]> {
  const where = ["m.kind <> 'system'"];
  const params: SqlValue[] = [];
  if (search.customerId !== undefined) {
    where.push('k.customer_id = ?');
    params.push(search.customerId);
  }
  if (search.id !== undefined) {
    where.push('m.id = ?');
    params.push(search.id);
  }
  // Correlated, so a customer's search reads only its own messages' recipients (recipients_by_message).
  const recipientLike = "EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND LOWER(r.address) LIKE ? ESCAPE '\\')";
  const senderLike = "LOWER(m.mail_from) LIKE ? ESCAPE '\\'";
  const messageIdLike = "LOWER(m.header_message_id) LIKE ? ESCAPE '\\'";
  if (search.recipient?.trim()) {
    where.push(recipientLike);
    params.push(contains(search.recipient));
  }
  if (search.sender?.trim()) {
    where.push(senderLike);
    params.push(contains(search.sender));
  }
  if (search.messageId?.trim()) {
    where.push(messageIdLike);
    params.push(contains(search.messageId));
  }
  if (search.any?.trim()) {
    const pattern = contains(search.any);
    where.push(`(${recipientLike} OR ${senderLike} OR ${messageIdLike} OR m.id = ?)`);
    params.push(pattern, pattern, pattern, search.any.trim());
  }
  params.push(Math.max(1, Math.min(search.limit ?? 100, 1000)));
  // The owner is the sending credential, or for a notice the credential whose mail it is about.
  const owners = await db.all<{ id: string; customer_id: number; customer: string; header_message_id: string | null }>(
    `SELECT m.id, k.customer_id, c.name AS customer, m.header_message_id
       FROM messages m
       JOIN credentials k ON k.id = COALESCE(m.credential_id, m.on_behalf_of_credential)
       JOIN customers c ON c.id = k.customer_id
      WHERE ${where.join(' AND ')}
      ORDER BY m.created_at DESC, m.id DESC
      LIMIT ?`,
    params,
  );
  if (owners.length === 0) return [];
  const ids = owners.map((o) => o.id);
  const marks = ids.map(() => '?').join(', ');
  const rows = await db.all<MessageRow>(`${MESSAGE_SELECT} WHERE m.id IN (${marks})`, ids);
  const recipients = await db.all<RecipientRow>(`${RECIPIENT_SELECT} WHERE message_id IN (${marks}) ORDER BY id`, ids);
  const byMessage = new Map<string, RecipientRow[]>();
  for (const r of recipients) {
    const list = byMessage.get(r.message_id);
    if (list) list.push(r);
    else byMessage.set(r.message_id, [r]);
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  const found: FoundMessage[] = [];
  for (const owner of owners) {
    const row = byId.get(owner.id);
    // Deleted between the two reads: left out rather than shown half.
    if (!row) continue;
    found.push({
      message: toMessage(row, byMessage.get(owner.id) ?? []),
      customerId: Number(owner.customer_id),
      customer: owner.customer,
      headerMessageId: owner.header_message_id,
    });
  }
  return found;
}
