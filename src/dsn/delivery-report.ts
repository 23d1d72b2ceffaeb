import crypto from 'node:crypto';
import { safeLine } from '../shared/safe-text.js';
import { rfc5322Date } from '../submission/message-headers.js';

/**
 * RFC 3464 delivery status notifications: a multipart/report with a plain-words part, a message/delivery-status
 * part, and the original headers (RET=HDRS, the default) or message (RET=FULL; a failure notice only, RFC 3461
 * 4.3). Pure: bytes in, bytes out.
 */
export type NoticeKind = 'delay' | 'failure' | 'relayed';

export interface NoticeRecipient {
  address: string;
  /** ORCPT as kept at submission ("rfc822;user@domain"), if any. */
  orcpt: string | null;
  status: string;
  remoteMta: string | null;
  /** The remote server's reply as received (Diagnostic-Code), or Relais's account of a local problem. */
  diagnostic: string | null;
  /** Relais's own words on why this notice is sent ("gave up: ..."): the plain-words part only. */
  explanation?: string | null;
  lastAttemptAt: number | null;
}

export interface NoticeInput {
  kind: NoticeKind;
  reportingMta: string;
  /** The envelope sender of the original message: the notice goes there. */
  to: string;
  queueId: string;
  envid: string | null;
  ret: 'FULL' | 'HDRS' | null;
  arrivalDate: number;
  giveUpAt: number;
  recipients: NoticeRecipient[];
  original: Buffer;
  now: number;
}

function headerBlock(message: Buffer): Buffer {
  const end = message.indexOf('\r\n\r\n');
  return end < 0 ? message : message.subarray(0, end + 2);
}

function utcText(at: number): string {
  return new Date(at).toUTCString();
}

/** Diagnostic-Code needs a type: smtp when it is a remote reply, X-Relais otherwise. */
function diagnosticField(diagnostic: string): string {
  return /^\d{3}[ -]/.test(diagnostic) ? `smtp; ${diagnostic}` : `X-Relais; ${diagnostic}`;
}

/** RFC 5322 2.1.1: lines should stay under 78 characters and must stay under 998. */
const FOLD_AT = 78;
/** A word longer than this (no whitespace to fold at) is cut, so no line nears 998 octets, even in 4-byte UTF-8. */
const LONGEST_WORD = 200;

/** Splits one line of text into words no longer than LONGEST_WORD. */
function words(text: string): string[] {
  return text
    .split(' ')
    .filter((w) => w !== '')
    .flatMap((w) => (w.length <= LONGEST_WORD ? [w] : (w.match(new RegExp(`.{1,${LONGEST_WORD}}`, 'gsu')) ?? [])));
}

/**
 * One header-style field, folded (RFC 5322 2.2.3): continuation lines start with a space, so however the value
 * reads it stays inside this field. The value must be one line (safeLine).
 */
export function foldedField(name: string, value: string): string {
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of words(value)) {
    if (line.length + 1 + word.length > FOLD_AT && line.trim() !== `${name}:`) {
      lines.push(line);
      line = ` ${word}`;
    } else {
      line += ` ${word}`;
    }
  }
  lines.push(line);
  return lines.join('\r\n');
}

/** Text wrapped for the plain-words part: every line indented, so quoted text never starts a line of its own. */
function indented(text: string, indent = '    ', width = 76): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words(text)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line || lines.length === 0) lines.push(indent + line);
  return lines;
}

function humanPart(input: NoticeInput): string {
  const lines: string[] = [];
  lines.push(`This is the mail system at ${input.reportingMta}.`, '');
  if (input.kind === 'delay') {
    lines.push(
      'Your message has not been delivered yet to the recipients below: their mail servers are temporarily unavailable',
      '(for example the mailbox is full or the server is down). This is only a warning; you do not need to resend.',
      `Delivery will be retried until ${utcText(input.giveUpAt)}.`,
    );
  } else if (input.kind === 'relayed') {
    lines.push(
      'Your message was handed to the mail servers of the recipients below. You asked to be told of its delivery,',
      'but those servers do not send delivery notifications: this is the last notice you will get about it.',
    );
  } else {
    lines.push('Your message could not be delivered to the recipients below. It will not be retried.');
  }
  lines.push('');
  for (const r of input.recipients) {
    lines.push(safeLine(`<${r.address}>${r.remoteMta ? ` (server ${r.remoteMta})` : ''}:`));
    if (r.explanation) lines.push(...indented(`${safeLine(r.explanation)}${r.diagnostic ? '; the last reply was:' : ''}`));
    lines.push(...indented(safeLine(r.diagnostic ?? 'no reply recorded')));
  }
  lines.push('', `Message queued as ${input.queueId}, received ${utcText(input.arrivalDate)}.`);
  return lines.join('\r\n');
}

function statusPart(input: NoticeInput): string {
  const fields: string[] = [`Reporting-MTA: dns; ${input.reportingMta}`];
  if (input.envid) fields.push(`Original-Envelope-Id: ${safeLine(input.envid)}`);
  fields.push(`X-Relais-Queue-ID: ${input.queueId}`, `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`);
  const blocks = [fields.join('\r\n')];
  for (const r of input.recipients) {
    const f: string[] = [];
    // Customers' and remote servers' text is made one line again here: records stored before replies were
    // neutralised at the SMTP client must not forge fields either.
    if (r.orcpt) f.push(`Original-Recipient: ${safeLine(r.orcpt)}`);
    f.push(`Final-Recipient: rfc822; ${safeLine(r.address)}`);
    f.push(`Action: ${input.kind === 'delay' ? 'delayed' : input.kind === 'relayed' ? 'relayed' : 'failed'}`);
    f.push(`Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${safeLine(r.remoteMta)}`);
    if (r.diagnostic) f.push(foldedField('Diagnostic-Code', diagnosticField(safeLine(r.diagnostic))));
    if (r.lastAttemptAt !== null) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    if (input.kind === 'delay') f.push(`Will-Retry-Until: ${rfc5322Date(input.giveUpAt)}`);
    blocks.push(f.join('\r\n'));
  }
  return `${blocks.join('\r\n\r\n')}\r\n`;
}

export function buildDeliveryReport(input: NoticeInput): Buffer {
  const boundary = `${input.queueId}.${crypto.randomBytes(6).toString('hex')}/${input.reportingMta}`;
  const subject =
    input.kind === 'delay' ? 'Delayed Mail (still being retried)' : input.kind === 'relayed' ? 'Successful Mail Delivery Report' : 'Undelivered Mail Returned to Sender';
  // RET asks for the message back with a failure; a message that was delivered is not sent back whole.
  const full = input.ret === 'FULL' && input.kind !== 'relayed';
  const returned = input.kind === 'relayed' ? 'Delivered Message Headers' : full ? 'Undelivered Message' : 'Undelivered Message Headers';
  const original = full ? input.original : headerBlock(input.original);
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${safeLine(input.to)}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.queueId}.${input.kind}.${input.now}@${input.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    humanPart(input),
    '',
    `--${boundary}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    statusPart(input),
    `--${boundary}`,
    `Content-Description: ${returned}`,
    `Content-Type: ${full ? 'message/rfc822' : 'text/rfc822-headers'}`,
    '',
    '',
  ].join('\r\n');
  const tail = `${original.subarray(original.length - 2).toString() === '\r\n' ? '' : '\r\n'}\r\n--${boundary}--\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), original, Buffer.from(tail)]);
}
