/** What the delivery side of the queue reads and writes. Times are epoch ms. */
import type { MessageEnvelope, NewRecipient, RecipientState } from './records.js';

/** A recipient claimed for delivery: as it was queued, plus where it stands. */
export interface DueRecipient extends NewRecipient {
  id: number;
  messageId: string;
  attempts: number;
  /** The lease it was claimed under: only that owner may settle or renew it. */
  leaseOwner: string;
  /** The message's credential (null for the relay's own notices): scheduling takes credentials in turns. */
  credentialId: number | null;
}

export interface DeliveryMessage extends MessageEnvelope {
  createdAt: number;
  retryEvery: number;
  giveUpAt: number;
  delayNoticeAt: number;
  delayNoticeSent: boolean;
}

export interface RecipientUpdate {
  id: number;
  state: Exclude<RecipientState, 'queued'>;
  nextAttemptAt: number;
  reply: string;
  /** Enhanced status code for notices, e.g. "4.2.0". */
  status: string;
  remoteMta: string | null;
  at: number;
}

export interface AttemptRecord {
  messageId: string;
  domain: string;
  recipients: string[];
  delivered: number;
  at: number;
  mx: string | null;
  remoteIp: string | null;
  sourceIp: string | null;
  tlsVersion: string | null;
  tlsCipher: string | null;
  reply: string;
  outcome: 'delivered' | 'deferred' | 'failed' | 'blocked-ip' | 'partial';
}

export interface PendingRecipient {
  id: number;
  address: string;
  orcpt: string | null;
  notify: string | null;
  status: string | null;
  lastReply: string | null;
  remoteMta: string | null;
  lastAttemptAt: number | null;
}

export interface IpAvoidance {
  sourceIp: string;
  destination: string;
  until: number;
  reason: string | null;
}

export interface IpActivity {
  sourceIp: string;
  delivered: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

export interface ShapeRow {
  domain: string;
  total: number;
  /** Counts per age bucket, same order as QUEUE_SHAPE_BUCKETS_MINUTES plus one for older. */
  buckets: number[];
}

/** Age buckets of `relais queue shape`, in minutes, as Postfix's qshape. */
export const QUEUE_SHAPE_BUCKETS_MINUTES = [5, 10, 20, 40, 80, 160, 320, 640, 1280];
