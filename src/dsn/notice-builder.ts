import { newQueueId } from '../queue/queue-id.js';
import { ownMessage, type OwnMailSettings } from '../queue/own-mail.js';
import type { DeliveryMessage, PendingRecipient } from '../store/delivery-records.js';
import type { NewMessage } from '../store/records.js';
import { buildDeliveryReport, type NoticeKind, type NoticeRecipient } from './delivery-report.js';

/** Recipients still pending, as a notice lists them: their last reply, or what the caller says instead. */
export function pendingAsNoticed(pending: readonly PendingRecipient[], override?: { status: string; diagnostic(r: PendingRecipient): string }): NoticeRecipient[] {
  return pending.map((r) => ({
    address: r.address,
    orcpt: r.orcpt,
    status: override?.status ?? r.status ?? '4.0.0',
    remoteMta: r.remoteMta,
    diagnostic: override ? override.diagnostic(r) : r.lastReply ?? 'not yet attempted',
    lastAttemptAt: r.lastAttemptAt,
  }));
}

/**
 * A notice as a message of its own, queued like any other: from the null reverse path, to the original sender,
 * with no credential (notices count against no quota), on behalf of the original's credential (its usage shows them).
 */
export function noticeMessage(
  kind: NoticeKind,
  original: DeliveryMessage,
  originalBody: Buffer,
  recipients: NoticeRecipient[],
  settings: OwnMailSettings,
  now: number,
): NewMessage {
  const body = buildDeliveryReport({
    kind,
    reportingMta: settings.hostname,
    to: original.mailFrom,
    queueId: original.id,
    envid: original.envid,
    ret: original.ret === 'FULL' ? 'FULL' : original.ret === 'HDRS' ? 'HDRS' : null,
    arrivalDate: original.createdAt,
    giveUpAt: original.giveUpAt,
    recipients,
    original: originalBody,
    now,
  });
  return ownMessage({ id: newQueueId(now), kind: 'notice', mailFrom: '', to: [original.mailFrom], body, onBehalfOf: original.credentialId }, settings, now);
}
