import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REJECT_REASONS, rejectedCommand, rejectReason, type RejectReason } from '../../src/submission/reject-reasons.js';
import { REPLY, type Reply } from '../../src/submission/replies.js';

/** The `reason` label of relais_submission_rejected_total for the refusals customers meet most. */
test('each refusal has its reason, from its tag or its enhanced status code', () => {
  const cases: [string, RejectReason, Reply][] = [
    ['authRequired', 'auth_required', REPLY.authRequired],
    ['authFailed', 'auth_failed', REPLY.authFailed],
    ['authBlocked', 'auth_blocked', REPLY.authBlocked],
    ['authBlockedUsername', 'auth_blocked', REPLY.authBlockedUsername],
    ['encryptionRequired', 'encryption_required', REPLY.encryptionRequired],
    ['tooManyConnections', 'connection_limit', REPLY.tooManyConnections],
    ['tooManyConnectionsFromIp', 'connection_limit', REPLY.tooManyConnectionsFromIp(50)],
    ['connectionRateExceeded', 'connection_limit', REPLY.connectionRateExceeded(300)],
    ['noPlan', 'no_plan', REPLY.noPlan],
    ['tooManyRecipients', 'too_many_recipients', REPLY.tooManyRecipients(100)],
    ['badRecipient', 'bad_address', REPLY.badRecipient],
    ['badSender', 'bad_address', REPLY.badSender],
    ['badAddressLiteral', 'bad_address', REPLY.badAddressLiteral],
    ['needUtf8', 'bad_address', REPLY.needUtf8],
    ['messageTooBig', 'message_too_big', REPLY.messageTooBig(1000)],
    ['declaredTooBig', 'message_too_big', REPLY.declaredTooBig(1000)],
    ['nulInData', 'bad_content', REPLY.nulInData],
    ['bareNewline', 'bad_content', REPLY.bareNewline],
    ['dataLineTooLong', 'bad_content', REPLY.dataLineTooLong(998)],
    ['storeFailed', 'store_error', REPLY.storeFailed],
    ['dkimFailed', 'dkim_failed', REPLY.dkimFailed],
    ['localError', 'local_error', REPLY.localError],
    ['needMail', 'protocol', REPLY.needMail],
    ['commandUnrecognized', 'protocol', REPLY.commandUnrecognized],
    ['syntax', 'protocol', REPLY.syntax('MAIL FROM:<address>')],
    ['policy: quota', 'quota', REPLY.refusal('quota', 451, '4.7.1', 'Sending quota of 5 recipients per 24 hours reached')],
    ['policy: suspended', 'suspended', REPLY.refusal('suspended', 550, '5.7.1', 'Sending suspended for this account (complaint)')],
    ['policy: virus', 'virus', REPLY.refusal('virus', 554, '5.7.1', 'Message refused: virus found (Eicar)')],
  ];
  for (const [name, reason, reply] of cases) {
    assert.equal(rejectReason(reply), reason, name);
    assert.ok((REJECT_REASONS as readonly string[]).includes(reason), name);
  }
  // A tag is metrics only: what the client reads is unchanged.
  assert.equal(REPLY.storeFailed.text, 'Temporary failure storing the message; try again later');
});

test('the command label is one of a fixed few, whatever the client sent', () => {
  assert.equal(rejectedCommand('RCPT'), 'RCPT');
  assert.equal(rejectedCommand('CONNECT'), 'CONNECT');
  assert.equal(rejectedCommand('(unrecognized)'), 'other');
  assert.equal(rejectedCommand('EHLO'), 'other');
});
