import type { RelaisConfig } from '../config/schema.js';
import type { NewMessage, MessageKind } from '../store/records.js';

/** The name and queue schedule of mail Relais writes itself: delivery notices and operator alerts. */
export interface OwnMailSettings {
  hostname: string;
  retryEvery: number;
  giveUpAfter: number;
  delayNoticeAfter: number;
}

export function ownMailSettings(config: RelaisConfig): OwnMailSettings {
  return {
    hostname: config.hostname,
    retryEvery: config.queue.retry_every,
    giveUpAfter: config.queue.give_up_after,
    delayNoticeAfter: config.queue.delay_notice_after,
  };
}

export interface OwnMail {
  id: string;
  kind: Exclude<MessageKind, 'message'>;
  mailFrom: string;
  to: readonly string[];
  body: Buffer;
  /** The credential whose mail caused it (a notice), shown in its usage; still counted against no quota. */
  onBehalfOf?: number | null;
}

/**
 * Mail Relais writes itself, as a queued message like any other: owned by no credential (no quota), and never the
 * cause of a notice of its own (NOTIFY=NEVER; the delay scan only marks it done when it comes due), so no loops.
 */
export function ownMessage(mail: OwnMail, settings: OwnMailSettings, now: number): NewMessage {
  return {
    id: mail.id,
    credentialId: null,
    onBehalfOf: mail.onBehalfOf ?? null,
    kind: mail.kind,
    mailFrom: mail.mailFrom,
    envid: null,
    ret: null,
    clientIp: null,
    body: mail.body,
    recipients: mail.to.map((address) => ({ address, domain: address.slice(address.lastIndexOf('@') + 1).toLowerCase(), orcpt: null, notify: 'NEVER' })),
    createdAt: now,
    retryEvery: settings.retryEvery,
    giveUpAt: now + settings.giveUpAfter,
    delayNoticeAt: now + settings.delayNoticeAfter,
    reservationId: null,
    usageBucket: 0,
  };
}
