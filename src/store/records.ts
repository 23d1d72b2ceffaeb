/** What the store hands out: plain records named for the business, not the tables. Times are epoch ms. */

export interface Customer {
  id: number;
  name: string;
  email: string;
  createdAt: number;
  credentialCount: number;
}

export interface Credential {
  id: number;
  customerId: number;
  customerName: string;
  username: string;
  passwordHash: string;
  enabled: boolean;
  /** Set when staff or abuse handling holds the credential's sending (later: complaints, blocklistings). */
  holdReason: string | null;
  holdSince: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Plan {
  id: number;
  credentialId: number;
  quota: number;
  startsAt: number;
  endsAt: number;
  createdAt: number;
}

export interface UsageBucket {
  bucketStart: number;
  units: number;
}

/** Everything the quota arithmetic needs about one credential at one instant. */
export interface QuotaSnapshot {
  quota: number;
  used: number;
  held: number;
  /** Buckets still inside the window, oldest first; only filled where "frees at" must be computed. */
  buckets: UsageBucket[];
}

export type ReserveResult =
  | { granted: true; reservationId: number; snapshot: QuotaSnapshot }
  | { granted: false; snapshot: QuotaSnapshot };

export interface QuotaRequest {
  credentialId: number;
  units: number;
  now: number;
  /** Units in buckets starting after this instant still count. */
  countFrom: number;
  expiresAt: number;
  /** Grow this transaction's reservation instead of opening a new one. */
  reservationId?: number;
}

/** held: not delivered while its credential is suspended, until staff release it (held-mail.ts). */
export type RecipientState = 'queued' | 'deferred' | 'held' | 'delivered' | 'failed';
/** 'system': mail Relais writes itself (operator alerts); like a notice it never gets a notice of its own. */
export type MessageKind = 'message' | 'notice' | 'system';

export interface NewRecipient {
  address: string;
  domain: string;
  orcpt: string | null;
  notify: string | null;
}

/** What every view of a queued message has: its id, owner, kind and envelope sender with DSN parameters. */
export interface MessageEnvelope {
  id: string;
  /** null for notices, which belong to no credential. */
  credentialId: number | null;
  kind: MessageKind;
  /** '' for the null reverse path. */
  mailFrom: string;
  envid: string | null;
  ret: string | null;
}

export interface NewMessage extends MessageEnvelope {
  clientIp: string | null;
  body: Buffer;
  recipients: NewRecipient[];
  createdAt: number;
  retryEvery: number;
  giveUpAt: number;
  delayNoticeAt: number;
  /**
   * The Message-ID header as delivered, `<...>` included: a complaint that lost the relay's Received header is
   * matched by it. Absent for notices.
   */
  headerMessageId?: string | null;
  /** The quota units this message turns from held into used, and the bucket they land in. */
  reservationId: number | null;
  /** A notice: the credential whose mail it is about (it counts against no quota, but shows in that credential's usage). */
  onBehalfOf?: number | null;
  usageBucket: number;
}

export interface QueuedRecipient {
  id: number;
  address: string;
  domain: string;
  orcpt: string | null;
  notify: string | null;
  state: RecipientState;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastReply: string | null;
}

export interface QueuedMessage extends MessageEnvelope {
  username: string | null;
  /** The Message-ID header as submitted, `<...>` included; null for notices and mail without one. */
  headerMessageId: string | null;
  /** A notice: the username of the credential whose mail it is about. */
  onBehalfOf: string | null;
  size: number;
  clientIp: string | null;
  createdAt: number;
  retryEvery: number;
  giveUpAt: number;
  delayNoticeAt: number;
  recipients: QueuedRecipient[];
}

export interface QueueFilter {
  state?: RecipientState;
  domain?: string;
  username?: string;
  /** Part of a recipient address, any case (a search box, not an exact match). */
  recipientContains?: string;
  /** Part of the envelope sender, any case. */
  senderContains?: string;
  /** Only this customer's mail: its credentials' messages and the notices about them (console, API). */
  customerId?: number;
  /** A recipient address, whole (case does not matter). */
  recipient?: string;
  /** The envelope sender, whole (case does not matter); '' for the null reverse path. */
  sender?: string;
  /** One message by its queue id (with the other conditions: a customer's search finds only its own). */
  queueId?: string;
  /** The Message-ID header, with or without its angle brackets. */
  headerMessageId?: string;
  limit?: number;
  /** Oldest first (the CLI's queue listing), or newest first (recent mail in the console). */
  order?: 'oldest' | 'newest';
}
