import { InputError } from '../accounts/validation.js';
import type { RelaisConfig } from '../config/schema.js';
import { noticeMessage, pendingAsNoticed } from '../dsn/notice-builder.js';
import { wantsNotice } from '../dsn/notice-policy.js';
import type { SuspensionService } from '../reputation/suspensions.js';
import type { Clock } from '../shared/clock.js';
import type { Store } from '../store/store.js';
import { ownMailSettings } from './own-mail.js';

export interface QueueAdminDeps {
  store: Store;
  clock: Clock;
  config: RelaisConfig;
  suspensions: SuspensionService;
}

export interface DeletedMessage {
  id: string;
  /** The queue id of the failure notice sent to the message's sender, when one was asked for and due. */
  notice: string | null;
  /** The sender the notice went to. */
  noticeTo: string | null;
  pendingRecipients: number;
  credentialId: number | null;
}

/**
 * Staff delete a message from the queue (CLI `relais queue delete`, the console's queue page): with `notify`, its
 * sender first gets a failure notice for the recipients still pending, and a customer's message deleted by staff is
 * written in its credential's history. One operation, so every face deletes the same way.
 */
export async function deleteQueuedMessage(
  deps: QueueAdminDeps,
  id: string,
  options: { notify?: boolean; actor: string; note?: string | null },
): Promise<DeletedMessage> {
  const { store, clock, config, suspensions } = deps;
  const message = await store.delivery.message(id);
  if (!message) throw new InputError(`no message with id "${id}" in the queue: see "relais queue list"`);
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
      note: options.note ?? null,
      detail: { message: id, pending_recipients: pending, notice: notice?.id ?? null },
    });
  }
  return { id, notice: notice?.id ?? null, noticeTo: notice ? message.mailFrom : null, pendingRecipients: pending, credentialId: message.credentialId };
}
