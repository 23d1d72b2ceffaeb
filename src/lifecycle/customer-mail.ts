import nodemailer from 'nodemailer';
import { ownMessage, type OwnMailSettings } from '../queue/own-mail.js';
import { newQueueId } from '../queue/queue-id.js';
import type { NewMessage } from '../store/records.js';

/** A mail to a customer's contact: text and HTML alternatives, and attachments (the parameter sheet). */
export interface CustomerMail {
  from: string;
  fromName: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  attachments?: { filename: string; content: Buffer; contentType: string }[];
}

// nodemailer only builds the MIME here (stream transport, nothing sent): multipart, encodings and header folding
// are where hand-written mail goes wrong.
const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

/** The mail as a queued message of Relais's own, delivered (and retried) like any other; no quota, no notices of its own. */
export async function customerMessage(mail: CustomerMail, settings: OwnMailSettings, now: number): Promise<NewMessage> {
  const id = newQueueId(now);
  const built = await composer.sendMail({
    from: { name: mail.fromName, address: mail.from },
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    attachments: mail.attachments,
    messageId: `<${id}@${settings.hostname}>`,
    date: new Date(now),
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  return ownMessage({ id, kind: 'system', mailFrom: mail.from, to: [mail.to], body: built.message as Buffer }, settings, now);
}
