import { ownMessage, type OwnMailSettings } from './own-mail.js';
import type { Clock } from '../shared/clock.js';
import type { NewMessage } from '../store/records.js';
import type { Store } from '../store/store.js';
import { rfc5322Date } from '../submission/message-headers.js';
import { newQueueId } from './queue-id.js';

/** A plain-text mail Relais writes itself: an operator alert, later a notice to a customer. */
export interface SystemMail {
  to: readonly string[];
  subject: string;
  text: string;
}


/** Keeps a header value on one line: stored text (zone answers, notes) must not add headers of its own. */
function headerText(value: string): string {
  // eslint-disable-next-line no-control-regex
  const oneLine = value.replace(/[\r\n\t\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 400);
  // RFC 2047 encoded-words for anything beyond ASCII, in chunks that keep each word under 75 characters.
  if (/^[\x20-\x7e]*$/.test(oneLine)) return oneLine;
  const words: string[] = [];
  let chunk = '';
  for (const char of oneLine) {
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** The message as it goes on the wire: CRLF, base64 body (any text, any line length), Message-ID of its own. */
export function systemMailBody(mail: SystemMail, id: string, settings: OwnMailSettings, now: number): Buffer {
  const from = `postmaster@${settings.hostname}`;
  const body = Buffer.from(mail.text.replace(/\r?\n/g, '\r\n'), 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n');
  const head = [
    `From: Relais <${from}>`,
    `To: ${mail.to.join(', ')}`,
    `Subject: ${headerText(mail.subject)}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${id}@${settings.hostname}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}\r\n`, 'utf8');
}

/**
 * A system mail as a queued message: from the relay's postmaster, owned by no credential (no quota), of kind
 * 'system': its own delay or failure never produces a notice (no loops), and it may leave from a blocklisted
 * address when no other is left, since the alert saying so must reach the operator.
 */
export function systemMessage(mail: SystemMail, settings: OwnMailSettings, now: number): NewMessage {
  const id = newQueueId(now);
  return ownMessage({ id, kind: 'system', mailFrom: `postmaster@${settings.hostname}`, to: mail.to, body: systemMailBody(mail, id, settings, now) }, settings, now);
}

/** Queues system mail through Relais's own queue, so it is delivered (and retried) like any other message. */
export class SystemMailer {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: OwnMailSettings,
  ) {}

  /** Returns the queue id; the caller decides whether a failure to queue is worth more than a log line. */
  async send(mail: SystemMail): Promise<string> {
    const message = systemMessage(mail, this.settings, this.clock.now());
    await this.store.enqueue([message]);
    return message.id;
  }
}
