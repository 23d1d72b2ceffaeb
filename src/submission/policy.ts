import type { MailArgs, RcptArgs } from './envelope-parser.js';
import type { Reply } from './replies.js';

/**
 * What the SMTP session asks of the rest of Relais. The session knows SMTP; the policy knows credentials,
 * quotas and the queue. Every method answers with either a go-ahead or the reply to give.
 */
export interface AuthenticatedUser {
  credentialId: number;
  username: string;
}

export interface ClientInfo {
  ip: string;
  port: number;
  heloName: string;
  tls: { version: string; cipher: string } | null;
}

export type Decision<T> = { ok: true; value: T } | { ok: false; reply: Reply };

/** The transaction's state the policy keeps between RCPT and DATA (the quota reservation). */
export interface TransactionTicket {
  reservationId?: number;
  units: number;
}

export interface AcceptedEnvelope {
  user: AuthenticatedUser;
  client: ClientInfo;
  mail: MailArgs;
  recipients: RcptArgs[];
  ticket: TransactionTicket;
}

/** A stored message: its queue id, and its size as stored and delivered (with the relay's trace headers). */
export interface QueuedAs {
  queueId: string;
  size: number;
}

export interface SubmissionPolicy {
  authenticate(username: string, password: string, client: ClientInfo): Promise<Decision<AuthenticatedUser>>;
  checkSender(user: AuthenticatedUser, mail: MailArgs): Promise<Decision<void>>;
  addRecipient(user: AuthenticatedUser, ticket: TransactionTicket, rcpt: RcptArgs): Promise<Decision<void>>;
  /** Called for every transaction that ends without a queued message (RSET, QUIT, rejected DATA, lost connection). */
  abandon(ticket: TransactionTicket): Promise<void>;
  /** Resolves only once the message is durably stored. */
  accept(envelope: AcceptedEnvelope, data: Buffer): Promise<Decision<QueuedAs>>;
}
