import { z } from 'zod';
import { attemptView } from '../../delivery/attempt-view.js';
import type { Services } from '../../services.js';
import type { QueueFilter, QueuedMessage, RecipientState } from '../../store/records.js';
import { QUEUE_SHAPE_BUCKETS_MINUTES } from '../../store/delivery-records.js';
import { canSee, customerScope, type Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, NotFound, requireStaff, visibleCredential } from './scope.js';

export const RECIPIENT_STATES = ['queued', 'deferred', 'held', 'delivered', 'failed'] as const satisfies readonly RecipientState[];

export const recipientSchema = z.object({
  address: z.string(),
  state: z.enum(RECIPIENT_STATES),
  attempts: z.number().int(),
  next_attempt_at: isoSchema.nullable().describe('When it is tried next; null once delivered, failed or while held.'),
  last_attempt_at: isoSchema.nullable(),
  last_reply: z.string().nullable(),
});

export const messageSchema = z.object({
  id: z.string(),
  kind: z.enum(['message', 'notice', 'system']),
  credential: z.string().nullable(),
  on_behalf_of: z.string().nullable().describe('A notice: the credential whose mail it is about.'),
  from: z.string(),
  message_id: z.string().nullable(),
  size: z.number().int(),
  client_ip: z.string().nullable(),
  created_at: isoSchema,
  give_up_at: isoSchema,
  recipients: z.array(recipientSchema),
});
export type MessageView = z.infer<typeof messageSchema>;

export const attemptSchema = z.object({
  at: isoSchema,
  domain: z.string(),
  recipients: z.array(z.string()),
  mx: z.string().nullable(),
  remote_ip: z.string().nullable(),
  source_ip: z.string().nullable(),
  tls: z.string().nullable(),
  cipher: z.string().nullable(),
  reply: z.string(),
  outcome: z.enum(['delivered', 'deferred', 'failed', 'blocked-ip', 'partial']),
});

export const messageDetailSchema = messageSchema.extend({ attempts: z.array(attemptSchema) });
export type MessageDetailView = z.infer<typeof messageDetailSchema>;

export interface QueueSearch {
  recipient?: string;
  sender?: string;
  /** The Message-ID header, or a queue id. */
  messageId?: string;
  state?: RecipientState;
  domain?: string;
  credential?: string;
  limit?: number;
}

const PENDING: readonly string[] = ['queued', 'deferred'];

export function messageView(m: QueuedMessage): MessageView {
  return {
    id: m.id,
    kind: m.kind,
    credential: m.username,
    on_behalf_of: m.onBehalfOf,
    from: m.mailFrom,
    message_id: m.headerMessageId,
    size: m.size,
    client_ip: m.clientIp,
    created_at: isoAt(m.createdAt),
    give_up_at: isoAt(m.giveUpAt),
    recipients: m.recipients.map((r) => ({
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      next_attempt_at: PENDING.includes(r.state) ? isoAt(r.nextAttemptAt) : null,
      last_attempt_at: iso(r.lastAttemptAt),
      last_reply: r.lastReply,
    })),
  };
}

/**
 * Messages in the queue and the delivery log, newest first, searched by recipient, sender, Message-ID (or queue
 * id), state, domain, credential. A customer viewer gets only its own credentials' mail and the notices about it.
 */
export async function searchMessages(services: Services, viewer: Viewer, search: QueueSearch = {}): Promise<MessageView[]> {
  if (search.credential !== undefined) await visibleCredential(services, viewer, search.credential);
  const filter: QueueFilter = {
    customerId: customerScope(viewer),
    recipient: search.recipient,
    sender: search.sender,
    state: search.state,
    domain: search.domain,
    username: search.credential,
    limit: search.limit ?? 100,
    order: 'newest',
  };
  const id = search.messageId?.trim();
  if (id) {
    // A queue id (what the 250 reply and Received header show) first; anything else is the Message-ID header.
    const byQueueId = await services.store.listQueue({ ...filter, queueId: id });
    if (byQueueId.length > 0) return byQueueId.map(messageView);
    filter.headerMessageId = id;
  }
  return (await services.store.listQueue(filter)).map(messageView);
}

/** The customer a message belongs to: its credential's, or for a notice the customer whose mail it is about. */
async function ownerOf(services: Services, m: QueuedMessage): Promise<number | null> {
  const username = m.username ?? m.onBehalfOf;
  if (username === null) return null;
  return (await services.store.findCredential(username))?.customerId ?? null;
}

/** A message the viewer may see, NotFound otherwise: Relais's own alerts (no credential) are staff's only. */
export async function visibleMessage(services: Services, viewer: Viewer, id: string): Promise<QueuedMessage> {
  const m = await services.store.findMessage(id);
  if (!m || (viewer.role !== 'staff' && !canSee(viewer, await ownerOf(services, m)))) throw new NotFound(`no message "${id}"`);
  return m;
}

/** One message with each recipient's state and every delivery attempt with the reply it got. */
export async function showMessage(services: Services, viewer: Viewer, id: string): Promise<MessageDetailView> {
  const m = await visibleMessage(services, viewer, id);
  const attempts = await services.store.delivery.attempts(m.id);
  return {
    ...messageView(m),
    attempts: attempts.map((a) => {
      const { message_id: _messageId, ...rest } = attemptView(a);
      return rest;
    }),
  };
}

export const shapeSchema = z.object({
  buckets: z.array(z.string()),
  domains: z.array(z.object({ domain: z.string(), total: z.number().int(), by_age: z.array(z.number().int()) })),
});
export type QueueShapeView = z.infer<typeof shapeSchema>;

/** Pending recipients per destination domain by age (staff): like Postfix's qshape. */
export async function queueShape(services: Services, viewer: Viewer): Promise<QueueShapeView> {
  requireStaff(viewer);
  const rows = await services.store.delivery.shape(services.clock.now());
  const last = QUEUE_SHAPE_BUCKETS_MINUTES[QUEUE_SHAPE_BUCKETS_MINUTES.length - 1];
  return {
    buckets: [...QUEUE_SHAPE_BUCKETS_MINUTES.map((m) => `<${m}m`), `>=${last}m`],
    domains: rows.map((r) => ({ domain: r.domain, total: r.total, by_age: r.buckets })),
  };
}
