import type { NoticeKind } from './delivery-report.js';

/**
 * Whether the sender is owed a notice. Never about a message with a null sender (no loops) and never about a
 * notice; NOTIFY (RFC 3461) decides per recipient, absent meaning FAILURE and DELAY (never SUCCESS).
 */
export function wantsNotice(kind: NoticeKind, message: { mailFrom: string; kind: string }, notify: string | null): boolean {
  if (message.mailFrom === '' || message.kind !== 'message') return false;
  if (notify === null) return kind !== 'relayed';
  const values = notify.split(',');
  if (values.includes('NEVER')) return false;
  return values.includes(kind === 'delay' ? 'DELAY' : kind === 'relayed' ? 'SUCCESS' : 'FAILURE');
}
