import type { Reply } from './replies.js';

/**
 * Why the submission server refused something, as a short fixed word: the `reason` label of
 * relais_submission_rejected_total. A fixed list, so a metric never grows a series per client or per text.
 */
export const REJECT_REASONS = [
  'connection_limit',
  'auth_required',
  'auth_failed',
  'auth_blocked',
  'encryption_required',
  'disabled',
  'suspended',
  'no_plan',
  'quota',
  'private_destination',
  'bad_address',
  'too_many_recipients',
  'message_too_big',
  'bad_content',
  'virus',
  'virus_scan_failed',
  'dkim_failed',
  'store_error',
  'local_error',
  'protocol',
  'other',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * The reason of a refusal: the one the reply was tagged with where its enhanced status code is shared by several
 * causes (quota and no plan are both 451 4.7.1; suspended, private destination and virus all 5.7.1), otherwise
 * read from the code itself (RFC 3463), which already names the class of problem.
 */
export function rejectReason(reply: Reply): RejectReason {
  if (reply.reason) return reply.reason;
  const [, subject, detail] = reply.status.split('.');
  const code = `${subject}.${detail}`;
  if (code === '7.0' && reply.code === 530) return 'auth_required';
  if (code === '7.8') return 'auth_failed';
  if (code === '7.11') return 'encryption_required';
  if (code === '3.4') return 'message_too_big';
  if (code === '5.3') return 'too_many_recipients';
  if (subject === '1' || code === '6.7') return 'bad_address';
  if (subject === '6') return 'bad_content';
  if (subject === '5') return 'protocol';
  if (subject === '3') return 'local_error';
  return 'other';
}

/** Bounded label for the command a refusal answered: the client chooses its verbs, not the metric's series. */
export function rejectedCommand(command: string): 'CONNECT' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA' | 'other' {
  switch (command) {
    case 'CONNECT':
    case 'AUTH':
    case 'MAIL':
    case 'RCPT':
    case 'DATA':
      return command;
    default:
      return 'other';
  }
}
