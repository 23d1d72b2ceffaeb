import type { RelaisConfig } from '../config/schema.js';
import { noticeMessage, pendingAsNoticed } from '../dsn/notice-builder.js';
import { wantsNotice } from '../dsn/notice-policy.js';
import type { SuspensionService } from '../reputation/suspensions.js';
import type { Clock } from '../shared/clock.js';
import type { Store } from '../store/store.js';
import { ownMailSettings } from './own-mail.js';

export interface DeleteOutcome {
  deleted: boolean;
  /** The queue id of the failure notice queued to the sender, if one was. */
  notice: string | null;
}

/**
 * Staff delete a message from the queue (the CLI, the console, the API alike). With `notify`, its sender gets a
 * failure notice for the recipients still pending, queued in the deletion's transaction. A customer's message
 * deleted this way is written into its credential's history with who did it and why.
 */
export async function deleteQueuedMessage(
  deps: { store: Store; clock: Clock; config: RelaisConfig; suspensions: SuspensionService },
  id: string,
  options: { notify: boolean; actor: string; note: string | null },
): Promise<DeleteOutcome | null> {
  const { store, clock, config, suspensions } = deps;
  const message = await store.delivery.message(id);
  if (!message) return null;
  const now = clock.now();
  let notice = null;
  if (options.notify) {
    const body = (await store.messageBody(id)) ?? Buffer.alloc(0);
    const pending = (await store.delivery.pendingRecipients(id)).filter((r) => wantsNotice('failure', message, r.notify));
    if (pending.length > 0) {
      notice = noticeMessage(
        'failure',
        message,
        body,
        pendingAsNoticed(pending, {
          status: '5.3.0',
          diagnostic: (r) => `deleted from the queue by the operator${r.lastReply ? `; last reply: ${r.lastReply}` : ''}`,
        }),
        ownMailSettings(config),
        now,
      );
    }
  }
  const pending = (await store.delivery.pendingRecipients(id)).length;
  const deleted = await store.delivery.deleteMessage(id, notice);
  // A customer's mail deleted by staff (held mail of a suspension, most often) is part of its credential's history.
  if (deleted && message.credentialId !== null) {
    await suspensions.record(message.credentialId, 'message_deleted', {
      actor: options.actor,
      note: options.note,
      detail: { message: id, pending_recipients: pending, notice: notice?.id ?? null },
    });
  }
  return { deleted, notice: deleted ? (notice?.id ?? null) : null };
}
