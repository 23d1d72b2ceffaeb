import type { Services } from '../../services.js';
import type { AttemptRecord } from '../../store/delivery-records.js';
import { searchMessages, type FoundMessage } from '../../store/message-search.js';
import { customerScope, type Viewer } from '../viewer.js';

export interface MessageQuery {
  /** Any of recipient, sender, Message-ID or queue id. */
  q?: string;
  recipient?: string;
  sender?: string;
  messageId?: string;
  limit?: number;
}

/** Recent messages the viewer may see (newest first), narrowed by what was searched. */
export function recentMessages(services: Services, viewer: Viewer, query: MessageQuery = {}): Promise<FoundMessage[]> {
  return searchMessages(services.store.db, {
    customerId: customerScope(viewer),
    any: query.q,
    recipient: query.recipient,
    sender: query.sender,
    messageId: query.messageId,
    limit: query.limit ?? 100,
  });
}

export interface MessageDetail extends FoundMessage {
  attempts: AttemptRecord[];
}

/** One message with every delivery attempt, or undefined when it does not exist or is not the viewer's. */
export async function messageDetail(services: Services, viewer: Viewer, queueId: string): Promise<MessageDetail | undefined> {
  if (!/^[\x21-\x7e]{1,100}$/.test(queueId)) return undefined;
  const [found] = await searchMessages(services.store.db, { customerId: customerScope(viewer), id: queueId, limit: 1 });
  if (!found) return undefined;
  return { ...found, attempts: await services.store.delivery.attempts(queueId) };
}
