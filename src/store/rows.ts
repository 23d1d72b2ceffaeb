import type { Credential, Customer, Plan, QueuedMessage, QueuedRecipient } from './records.js';

/** SELECT lists and the mapping of their rows to records: every driver returns the same snake_case rows. */

export const CUSTOMER_SELECT = `SELECT c.id, c.name, c.email, c.created_at, COUNT(k.id) AS credential_count
  FROM customers c LEFT JOIN credentials k ON k.customer_id = c.id`;
export interface CustomerRow {
  id: number;
  name: string;
  email: string;
  created_at: number;
  credential_count: number;
}
export const toCustomer = (r: CustomerRow): Customer => ({
  id: Number(r.id),
  name: r.name,
  email: r.email,
  createdAt: Number(r.created_at),
  credentialCount: Number(r.credential_count),
});

export const CREDENTIAL_SELECT = `SELECT k.id, k.customer_id, c.name AS customer_name, k.username, k.password_hash, k.enabled, k.hold_reason,
  k.hold_since, k.created_at, k.updated_at FROM credentials k JOIN customers c ON c.id = k.customer_id`;
export interface CredentialRow {
  id: number;
  customer_id: number;
  customer_name: string;
  username: string;
  password_hash: string;
  enabled: number;
  hold_reason: string | null;
  hold_since: number | null;
  created_at: number;
  updated_at: number;
}
export const toCredential = (r: CredentialRow): Credential => ({
  id: Number(r.id),
  customerId: Number(r.customer_id),
  customerName: r.customer_name,
  username: r.username,
  passwordHash: r.password_hash,
  enabled: Number(r.enabled) === 1,
  holdReason: r.hold_reason,
  holdSince: r.hold_since === null ? null : Number(r.hold_since),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export interface PlanRow {
  id: number;
  credential_id: number;
  quota: number;
  starts_at: number;
  ends_at: number;
  created_at: number;
}
export const toPlan = (r: PlanRow): Plan => ({
  id: Number(r.id),
  credentialId: Number(r.credential_id),
  quota: Number(r.quota),
  startsAt: Number(r.starts_at),
  endsAt: Number(r.ends_at),
  createdAt: Number(r.created_at),
});

export const MESSAGE_SELECT = `SELECT m.id, m.credential_id, k.username, b.username AS on_behalf_of, m.kind, m.mail_from, m.envid, m.ret, m.size,
  m.client_ip, m.created_at, m.retry_every, m.give_up_at, m.delay_notice_at, m.header_message_id
  FROM messages m LEFT JOIN credentials k ON k.id = m.credential_id LEFT JOIN credentials b ON b.id = m.on_behalf_of_credential`;
export interface MessageRow {
  id: string;
  credential_id: number | null;
  username: string | null;
  on_behalf_of: string | null;
  kind: string;
  mail_from: string;
  envid: string | null;
  ret: string | null;
  size: number;
  client_ip: string | null;
  created_at: number;
  retry_every: number;
  give_up_at: number;
  delay_notice_at: number;
  header_message_id: string | null;
}
export const RECIPIENT_SELECT = `SELECT id, message_id, address, domain, orcpt, notify, state, attempts, next_attempt_at, last_attempt_at, last_reply
  FROM recipients`;
export interface RecipientRow {
  id: number;
  message_id: string;
  address: string;
  domain: string;
  orcpt: string | null;
  notify: string | null;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_reply: string | null;
}
export const toRecipient = (r: RecipientRow): QueuedRecipient => ({
  id: Number(r.id),
  address: r.address,
  domain: r.domain,
  orcpt: r.orcpt,
  notify: r.notify,
  state: r.state as QueuedRecipient['state'],
  attempts: Number(r.attempts),
  nextAttemptAt: Number(r.next_attempt_at),
  lastAttemptAt: r.last_attempt_at === null ? null : Number(r.last_attempt_at),
  lastReply: r.last_reply,
});
export const toMessage = (r: MessageRow, recipients: RecipientRow[]): QueuedMessage => ({
  id: r.id,
  credentialId: r.credential_id === null ? null : Number(r.credential_id),
  username: r.username,
  headerMessageId: r.header_message_id,
  onBehalfOf: r.on_behalf_of,
  kind: r.kind as QueuedMessage['kind'],
  mailFrom: r.mail_from,
  envid: r.envid,
  ret: r.ret,
  size: Number(r.size),
  clientIp: r.client_ip,
  createdAt: Number(r.created_at),
  retryEvery: Number(r.retry_every),
  giveUpAt: Number(r.give_up_at),
  delayNoticeAt: Number(r.delay_notice_at),
  recipients: recipients.map(toRecipient),
});
