import type { RejectReason } from './reject-reasons.js';

/**
 * Every reply the submission server gives, with its enhanced status code (RFC 3463, RFC 5248).
 * The texts are a public interface: operators' scripts and customers' support tickets quote them.
 */
export interface Reply {
  code: number;
  /** Enhanced status code, e.g. "5.7.8"; empty for replies that have none (220, 334, 354). */
  status: string;
  text: string;
  /** Close the connection after sending (421 and 221 do). */
  close?: boolean;
  /** Why a refusal was given, where its status code alone does not say (see reject-reasons.ts); metrics only. */
  reason?: RejectReason;
}

const r = (code: number, status: string, text: string, close = false): Reply => ({ code, status, text, close });
/** A refusal whose status code is shared by several causes, tagged with its own. */
const because = (reason: RejectReason, reply: Reply): Reply => ({ ...reply, reason });

export const REPLY = {
  closing: r(221, '2.0.0', 'Bye', true),
  ok: r(250, '2.0.0', 'Ok'),
  senderOk: r(250, '2.1.0', 'Sender ok'),
  recipientOk: r(250, '2.1.5', 'Recipient ok'),
  resetOk: r(250, '2.0.0', 'Reset ok'),
  authOk: r(235, '2.7.0', 'Authentication successful'),
  vrfy: r(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  help: r(214, '2.0.0', 'See RFC 5321 and RFC 4954; authenticate, then MAIL, RCPT and DATA'),
  startData: r(354, '', 'End data with <CR><LF>.<CR><LF>'),
  readyForTls: r(220, '2.0.0', 'Ready to start TLS'),

  timeout: r(421, '4.4.2', 'Idle timeout, closing connection', true),
  tooManyErrors: r(421, '4.7.0', 'Too many errors, closing connection', true),
  tooManyConnections: because('connection_limit', r(421, '4.7.0', 'Too many connections, try again later', true)),
  tooManyConnectionsFromIp: (max: number) =>
    because('connection_limit', r(421, '4.7.0', `Too many connections from your address (at most ${max} at once); close idle ones and try again later`, true)),
  connectionRateExceeded: (max: number) =>
    because('connection_limit', r(421, '4.7.0', `Too many new connections from your address (at most ${max} per minute); reuse connections and try again later`, true)),
  unreadReplies: r(421, '4.7.0', 'Too many unread replies; read the replies to your commands. Closing connection', true),
  authBlocked: because('auth_blocked', r(421, '4.7.0', 'Too many failed authentication attempts from your address; try again later', true)),
  // Unknown usernames lock the same way, so this says nothing about which usernames exist.
  authBlockedUsername: because('auth_blocked', r(421, '4.7.0', 'Too many failed authentication attempts for this username; try again later', true)),
  shuttingDown: r(421, '4.3.2', 'Service shutting down, try again later', true),
  // A PROXY header (HAProxy's PROXY protocol) from an address not in listen.proxy_from: a client claiming another address.
  proxyRefused: r(554, '5.7.1', 'PROXY protocol header refused: your address is not a trusted load balancer', true),
  storeFailed: because('store_error', r(451, '4.3.0', 'Temporary failure storing the message; try again later')),
  dkimFailed: because('dkim_failed', r(451, '4.3.0', 'Temporary failure signing the message (DKIM); try again later')),
  localError: r(451, '4.3.0', 'Temporary local problem; try again later'),
  tooManyRecipients: (max: number) => r(452, '4.5.3', `Too many recipients (at most ${max} per message)`),
  noPlan: because('no_plan', r(451, '4.7.1', 'No active sending plan for this credential; contact your provider')),

  commandUnrecognized: r(500, '5.5.2', 'Command not recognized'),
  commandTooLong: (max: number) => r(500, '5.5.2', `Line too long (at most ${max} octets per command)`),
  dataLineTooLong: (max: number) =>
    because('bad_content', r(500, '5.5.2', `Message has a line longer than ${max} octets (RFC 5322 2.1.1); wrap or encode long lines`)),
  bareNewline: because(
    'bad_content',
    r(550, '5.5.2', 'Message contains bare LF or bare CR line endings; end every line with CRLF (RFC 5321 2.3.8)'),
  ),
  syntax: (usage: string) => r(501, '5.5.4', `Syntax: ${usage}`),
  badSender: r(501, '5.1.7', 'Bad sender address syntax'),
  badRecipient: r(501, '5.1.3', 'Bad recipient address syntax; a recipient needs a domain (user@domain)'),
  controlInAddress: r(501, '5.1.3', 'Control characters are not allowed in addresses'),
  badAddressLiteral: r(501, '5.1.3', 'Bad address literal; use [IPv6:address] or [a.b.c.d] with a valid IP address'),
  badParameter: (what: string) => r(501, '5.5.4', `Invalid parameter ${what}`),
  unsupportedParameter: (name: string) => r(555, '5.5.4', `Unsupported parameter ${name}`),
  parametersNeedEhlo: r(555, '5.5.4', 'MAIL and RCPT parameters need a session opened with EHLO, not HELO'),
  needUtf8: r(553, '5.6.7', 'Non-ASCII address requires the SMTPUTF8 parameter on MAIL FROM'),
  notImplemented: r(502, '5.5.1', 'Command not implemented'),
  sendHelloFirst: r(503, '5.5.1', 'Send EHLO first'),
  nestedMail: r(503, '5.5.1', 'Sender already given; send RSET to start over'),
  needMail: r(503, '5.5.1', 'Need MAIL command first'),
  needRecipient: r(503, '5.5.1', 'Need RCPT command first'),
  alreadyAuthenticated: r(503, '5.5.1', 'Already authenticated'),
  authNotOffered: r(503, '5.5.1', "No AUTH on this port: it takes mail for the relay's own addresses only; submit mail on the submission port"),
  authInTransaction: r(503, '5.5.1', 'AUTH not allowed during a mail transaction'),
  authCancelled: r(501, '5.0.0', 'Authentication cancelled'),
  authUndecodable: r(501, '5.5.2', 'Cannot decode the authentication response (expected base64)'),
  unknownMechanism: r(504, '5.5.4', 'Unrecognized authentication mechanism; use PLAIN or LOGIN'),
  encryptionRequired: r(538, '5.7.11', 'Encryption required: issue STARTTLS (or use the implicit TLS port) before AUTH'),
  tlsNotAvailable: r(454, '4.7.0', 'TLS not available'),
  alreadyTls: r(503, '5.5.1', 'TLS already active'),
  authRequired: r(530, '5.7.0', 'Authentication required'),
  authFailed: r(535, '5.7.8', 'Authentication credentials invalid'),
  nulInData: r(550, '5.6.0', 'Message contains NUL characters; encode binary content (base64) before sending'),
  messageTooBig: (max: number) => r(552, '5.3.4', `Message size exceeds fixed limit of ${max} bytes`),
  declaredTooBig: (max: number) => r(552, '5.3.4', `Declared message size exceeds fixed limit of ${max} bytes`),
  custom: r,
  /** A refusal made by the policy, with the reason the metrics give it. */
  refusal: (reason: RejectReason, code: number, status: string, text: string): Reply => because(reason, r(code, status, text)),
} as const;

export function formatReply(reply: Reply): string {
  const lines = reply.text.split('\n');
  const prefix = reply.status ? `${reply.status} ` : '';
  return lines.map((line, i) => `${reply.code}${i === lines.length - 1 ? ' ' : '-'}${prefix}${line}\r\n`).join('');
}
