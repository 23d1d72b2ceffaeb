import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyReply, replyPatterns, type ReplyStage, type Verdict } from '../../src/delivery/reply-classifier.js';

/**
 * Replies as receivers publish them (their documentation, postmaster pages, their software's default texts), with
 * the sending address and recipient made generic. A multi-line reply is as Relais sees it: its lines joined into
 * one by safeLine, each keeping its "550-" prefix. The stage matters only for a 552 at RCPT.
 */
type Row = [source: string, stage: ReplyStage, reply: string, verdict: Verdict];

const REPLIES: Row[] = [
  // Postfix
  ['Postfix local_recipient_maps', 'rcpt', '550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in local recipient table', 'fail'],
  ['Postfix virtual_mailbox_maps', 'rcpt', '550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table', 'fail'],
  ['Postfix virtual_alias_maps', 'rcpt', '550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual alias table', 'fail'],
  ['Postfix relay_recipient_maps', 'rcpt', '550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in relay recipient table', 'fail'],
  ['Postfix reject_unverified_recipient', 'rcpt', '450 4.1.1 <bob@example.net>: Recipient address rejected: unverified address: host mx.example.net[192.0.2.7] said: 550 5.1.1 User unknown', 'defer'],
  ['Postfix reject_unauth_destination', 'rcpt', '554 5.7.1 <bob@example.net>: Relay access denied', 'fail'],
  ['Postfix check_recipient_access REJECT', 'rcpt', '554 5.7.1 <bob@example.net>: Recipient address rejected: Access denied', 'fail'],
  ['Postfix reject_rbl_client', 'mail', '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1', 'blocked-ip'],
  ['Postfix reject_unknown_client_hostname', 'rcpt', '450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]', 'blocked-ip'],
  ['Postfix reject_unknown_reverse_client_hostname', 'rcpt', '550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]', 'blocked-ip'],
  ['Postfix reject_unknown_helo_hostname', 'rcpt', '450 4.7.1 <out-1.relay.example>: Helo command rejected: Host not found', 'blocked-ip'],
  ['Postfix reject_unknown_sender_domain', 'rcpt', '450 4.1.8 <alice@nowhere.example>: Sender address rejected: Domain not found', 'defer'],
  ['Postfix message_size_limit', 'data', '552 5.3.4 Message size exceeds fixed limit', 'fail'],
  ['Postfix queue file write error', 'data', '451 4.3.0 Error: queue file write error', 'defer'],
  ['Postfix insufficient storage', 'mail', '452 4.3.1 Insufficient system storage', 'defer'],
  ['Postfix smtpd_recipient_limit', 'rcpt', '452 4.5.3 Error: too many recipients', 'defer'],
  ['Postfix anvil connection count limit', 'connect', '421 4.7.0 mx.example.net Error: too many connections from 192.0.2.1', 'blocked-ip'],
  ['Postfix body_checks REJECT', 'data', '550 5.7.1 Message content rejected', 'fail'],
  ['Postfix postscreen after its tests', 'rcpt', '450 4.3.2 Service currently unavailable', 'defer'],
  ['Postfix postscreen DNSBL', 'rcpt', '550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org', 'blocked-ip'],
  ['Postfix reject_rhsbl_sender (Spamhaus DBL)', 'rcpt', '554 5.7.1 Service unavailable; Sender address [alice@bad.example] blocked using dbl.spamhaus.org; https://www.spamhaus.org/query/dbl?domain=bad.example', 'fail'],
  ['Postfix shutting down after the dot', 'data', '421 4.3.2 Service shutting down', 'slow-down'],
  ['receiver with a concurrency limit', 'connect', '421 4.7.0 Too many concurrent connections', 'slow-down'],
  ['smtp-server (Node) connection limit', 'connect', '421 mx.example.net Too many connected clients, try again in a moment', 'slow-down'],
  // Exim
  ['Exim unknown domain or user', 'rcpt', '550 Unrouteable address', 'fail'],
  ['Exim on cPanel, unknown user', 'rcpt', '550 No Such User Here', 'fail'],
  ['Exim on cPanel, callout failure', 'rcpt', '550-The mail server could not deliver mail to bob@example.net.  The account or domain may not exist, they may be blacklisted, or missing the proper dns entries.', 'fail'],
  ['Exim sender verification', 'rcpt', '550-Verification failed for <alice@nowhere.example> 550-Unrouteable address 550 Sender verify failed', 'fail'],
  ['Exim temporary local problem', 'rcpt', '451 Temporary local problem - please try later', 'defer'],
  ['Exim dnslists default message', 'rcpt', '550 Rejected because 192.0.2.1 is in a black list at zen.spamhaus.org', 'blocked-ip'],
  ['Exim ACL deny', 'rcpt', '550 Administrative prohibition', 'fail'],
  ['Exim recipients_max', 'rcpt', '452 too many recipients', 'defer'],
  ['greylistd with Exim', 'rcpt', '451-192.0.2.1 is not yet authorized to deliver mail from 451 <alice@customer.example> to <bob@example.net>. Please try later.', 'defer'],
  // Sendmail
  ['Sendmail unknown user', 'rcpt', '550 5.1.1 <bob@example.net>... User unknown', 'fail'],
  ['Sendmail dnsbl FEATURE', 'mail', '550 5.7.1 Rejected: 192.0.2.1 listed at zen.spamhaus.org', 'blocked-ip'],
  ['Sendmail unresolvable sender domain', 'mail', '451 4.1.8 Domain of sender address alice@nowhere.example does not resolve', 'defer'],
  ['Sendmail nonexistent sender domain', 'mail', '553 5.1.8 <alice@nowhere.example>... Domain of sender address alice@nowhere.example does not exist', 'fail'],
  ['Sendmail relaying denied', 'rcpt', '550 5.7.1 <bob@example.net>... Relaying denied', 'fail'],
  ['Sendmail disk space', 'mail', '452 4.4.5 Insufficient disk space; try again later', 'defer'],
  ['Sendmail mailbox full at RCPT (552 read as 452)', 'rcpt', '552 5.2.2 <bob@example.net>... Mailbox full', 'defer'],
  // Microsoft 365 / Outlook.com / Exchange
  ['Microsoft 365 Spamhaus', 'rcpt', '550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 (AS3130). [BN1NAM02FT047.eop-nam02.prod.protection.outlook.com]', 'blocked-ip'],
  ['Microsoft 365 directory based edge blocking', 'rcpt', '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT062.eop-EUR03.prod.protection.outlook.com]', 'fail'],
  ['Outlook.com throttling of an address', 'mail', '451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714) [VI1EUR04FT052.eop-eur04.prod.protection.outlook.com]', 'blocked-ip'],
  ['Microsoft 365 banned sending IP', 'mail', '550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430)', 'blocked-ip'],
  ['Microsoft 365 banned sender', 'mail', '550 5.7.511 Access denied, banned sender[192.0.2.1]. To request removal from this list please forward this message to delist@messaging.microsoft.com. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653. AS(1410)', 'blocked-ip'],
  ['Outlook.com network on its block list', 'mail', "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM5EUR03FT003.eop-EUR03.prod.protection.outlook.com]", 'blocked-ip'],
  ['Outlook.com IP reputation rate limit', 'mail', '451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [DM6NAM11FT019.eop-nam11.prod.protection.outlook.com]', 'blocked-ip'],
  ['Microsoft 365 traffic not accepted from this IP', 'connect', '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(842)', 'blocked-ip'],
  ['Outlook.com unknown recipient', 'rcpt', '550 5.5.0 Requested action not taken: mailbox unavailable. [BN8NAM12FT043.eop-nam12.prod.protection.outlook.com]', 'fail'],
  ['Exchange Online recipient not found', 'rcpt', '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient bob@example.net not found by SMTP address lookup', 'fail'],
  ['Microsoft 365 DMARC reject', 'data', '550 5.7.509 Access denied, sending domain customer.example does not pass DMARC verification and has a DMARC policy of reject. [AM7EUR03FT012.eop-EUR03.prod.protection.outlook.com]', 'fail'],
  ['Exchange Online recipient thread limit', 'data', '432 4.3.2 STOREDRV.Deliver; recipient thread limit exceeded', 'defer'],
  ['Exchange Online mailbox full after the dot', 'data', '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception with message', 'fail'],
  ['Exchange insufficient resources', 'mail', '452 4.3.1 Insufficient system resources', 'defer'],
  ['Exchange closing the channel', 'connect', '421 4.3.2 Service not available, closing transmission channel', 'slow-down'],
  ['Exchange too many recipients', 'rcpt', '452 4.5.3 Too many recipients', 'defer'],
  // Gmail
  ['Gmail no such user', 'rcpt', "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si2345678qkb.123 - gsmtp", 'fail'],
  ['Gmail disabled account', 'rcpt', '550-5.2.1 The email account that you tried to reach is disabled. For more 550-5.2.1 information, go to 550 5.2.1  https://support.google.com/mail/?p=DisabledUser a1si2345678qkb.123 - gsmtp', 'fail'],
  ['Gmail over quota, temporary', 'rcpt', '452-4.2.2 The email account that you tried to reach is over quota. Please direct 452-4.2.2 the recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a1si2345678qkb.123 - gsmtp', 'defer'],
  ['Gmail over quota at RCPT (552 read as 452)', 'rcpt', '552-5.2.2 The email account that you tried to reach is over quota and inactive. 552-5.2.2 Please direct the recipient to 552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm a1si2345678qkb.123 - gsmtp', 'defer'],
  ['Gmail receiving rate of a user', 'rcpt', '450-4.2.1 The user you are trying to contact is receiving mail at a rate that 450-4.2.1 prevents additional messages from being delivered. Please resend your 450-4.2.1 message at a later time. If the user is able to receive mail at that 450-4.2.1 time, your message will be delivered. For more information, go to 450 4.2.1  https://support.google.com/mail/?p=ReceivingRate a1si2345678qkb.123 - gsmtp', 'defer'],
  ['Gmail rate limit of an address (4.7.0)', 'mail', '421-4.7.0 [192.0.2.1      15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail originating from your IP address. To protect our 421-4.7.0 users from spam, mail sent from your IP address has been temporarily 421-4.7.0 rate limited. Please visit 421-4.7.0  https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.0 review our Bulk Email Senders Guidelines. a1si2345678qkb.123 - gsmtp', 'blocked-ip'],
  ['Gmail rate limit of an address (4.7.28)', 'data', '421-4.7.28 [192.0.2.1      15] Our system has detected an unusual rate of 421-4.7.28 unsolicited mail originating from your IP address. To protect our 421-4.7.28 users from spam, mail sent from your IP address has been temporarily 421-4.7.28 rate limited. Please visit 421-4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.28 review our Bulk Email Senders Guidelines. a1si2345678qkb.123 - gsmtp', 'blocked-ip'],
  ['Gmail unsolicited message', 'data', '550-5.7.1 [192.0.2.1      12] Our system has detected that this message is 550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail, 550-5.7.1 this message has been blocked. Please visit 550-5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError 550 5.7.1 for more information. a1si2345678qkb.123 - gsmtp', 'fail'],
  ['Gmail low reputation of the sending IP', 'data', '421-4.7.0 [192.0.2.1      15] Our system has detected that this message is 421-4.7.0 suspicious due to the very low reputation of the sending IP address. 421-4.7.0 To protect our users from spam, mail sent from your IP address has 421-4.7.0 been temporarily rate limited. a1si2345678qkb.123 - gsmtp', 'blocked-ip'],
  ['Gmail low reputation of the sending domain', 'data', '550-5.7.1 [192.0.2.1      12] Our system has detected that this message is 550-5.7.1 likely suspicious due to the very low reputation of the sending domain. 550-5.7.1 To best protect our users from spam, the message has been blocked. a1si2345678qkb.123 - gsmtp', 'fail'],
  ['Gmail unauthenticated sender', 'data', '550-5.7.26 This mail has been blocked because the sender is unauthenticated. 550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM. 550-5.7.26 550-5.7.26  Authentication results: 550-5.7.26  DKIM = did not pass 550-5.7.26  SPF [customer.example] with ip: [192.0.2.1] = did not pass 550 5.7.26 a1si2345678qkb.123 - gsmtp', 'fail'],
  ['Gmail missing PTR', 'mail', '550-5.7.25 [192.0.2.1] The IP address sending this message does not have a 550-5.7.25 PTR record setup, or the corresponding forward DNS entry does not 550-5.7.25 point to the sending IP. As a policy, Gmail does not accept messages 550-5.7.25 from IPs with missing PTR records. a1si2345678qkb.123 - gsmtp', 'blocked-ip'],
  ['Gmail security issue in the content', 'data', '552-5.7.0 This message was blocked because its content presents a potential 552-5.7.0 security issue. Please visit 552-5.7.0  https://support.google.com/mail/?p=BlockedMessage to review our 552 5.7.0 message content and attachment content guidelines. a1si2345678qkb.123 - gsmtp', 'fail'],
  ['Gmail DMARC', 'data', "550-5.7.26 Unauthenticated email from customer.example is not accepted due to 550-5.7.26 domain's DMARC policy. Please contact the administrator of 550-5.7.26 customer.example domain if this was a legitimate mail. a1si2345678qkb.123 - gsmtp", 'fail'],
  ['Gmail temporary system problem', 'data', '451-4.3.0 Mail server temporarily rejected message. a1si2345678qkb.123 - gsmtp', 'defer'],
  // Yahoo and AOL
  ['Yahoo TSS04', 'mail', '421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes', 'blocked-ip'],
  ['Yahoo TS03', 'mail', '421 4.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes', 'blocked-ip'],
  ['Yahoo BL21', 'connect', "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", 'blocked-ip'],
  ['Yahoo policy (DMARC, content)', 'data', '554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes', 'fail'],
  ['Yahoo unknown user', 'rcpt', "554 delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com", 'fail'],
  ['Yahoo unresolvable sender domain', 'mail', '451 Message temporarily deferred due to unresolvable RFC.5321 from domain; see https://postmaster.yahooinc.com/error-codes', 'defer'],
  // Apple iCloud
  ['iCloud unknown user', 'rcpt', '550 5.1.1 <bob@icloud.com>: user does not exist', 'fail'],
  ['iCloud local policy', 'data', '554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137', 'fail'],
  ['iCloud local policy (HM08)', 'data', '554 5.7.1 [HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137', 'fail'],
  // Proofpoint, Mimecast, Barracuda
  ['Proofpoint IP reputation', 'connect', '554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1', 'blocked-ip'],
  ['Proofpoint Essentials', 'connect', '554 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1', 'blocked-ip'],
  ['Proofpoint unknown user', 'rcpt', '550 5.1.1 User Unknown', 'fail'],
  ['Mimecast invalid recipient', 'rcpt', '550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [a1b2c3d4.uk123]', 'fail'],
  ['Mimecast anti-spoofing', 'rcpt', '550 Rejected by header based Anti-Spoofing policy: bob@example.net - https://community.mimecast.com/docs/DOC-1369#550 [a1b2c3d4.uk123]', 'fail'],
  ['Mimecast envelope blocked', 'rcpt', '550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550 [a1b2c3d4.uk123]', 'fail'],
  ['Mimecast security policies', 'data', '554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [a1b2c3d4.uk123]', 'fail'],
  ['Mimecast internal resource', 'rcpt', '451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451 [a1b2c3d4.uk123]', 'defer'],
  ['Barracuda reputation', 'connect', '554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.1', 'blocked-ip'],
  ['Barracuda per-recipient block', 'data', '550 permanent failure for one or more recipients (bob@example.net:blocked)', 'fail'],
  ['Comcast DNSBL', 'mail', '554 5.7.1 resimta-ch2-18v.sys.comcast.net comcast 192.0.2.1 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000001', 'blocked-ip'],
  // Greylisting daemons
  ['postgrey', 'rcpt', '450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html', 'defer'],
  ['milter-greylist', 'rcpt', '451 4.7.1 Greylisting in action, please come back in 00:05:00', 'defer'],
  ['rspamd greylisting', 'data', '451 4.7.1 Try again later', 'defer'],
  // Blocklists through the receivers that query them
  ['SpamCop through Postfix', 'rcpt', '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.1', 'blocked-ip'],
  ['SORBS through Postfix', 'rcpt', '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using dnsbl.sorbs.net; Currently Sending Spam See: http://www.sorbs.net/lookup.shtml?192.0.2.1', 'blocked-ip'],
  ['Spamhaus PBL through Postfix', 'rcpt', '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1', 'blocked-ip'],
  // Successes
  ['Postfix queued', 'data', '250 2.0.0 Ok: queued as 4XyZ1x2Wm3z4', 'delivered'],
  ['Gmail accepted', 'data', '250 2.0.0 OK  1700000000 a1si2345678qkb.123 - gsmtp', 'delivered'],
];

test(`reply verdicts: ${REPLIES.length} published replies of real receivers`, () => {
  const patterns = replyPatterns();
  const wrong: string[] = [];
  for (const [source, stage, reply, verdict] of REPLIES) {
    const code = Number(reply.slice(0, 3));
    const got = classifyReply(code, reply, patterns, stage);
    if (got !== verdict) wrong.push(`${source}: expected ${verdict}, got ${got}: ${reply}`);
  }
  assert.ok(REPLIES.length >= 60);
  assert.deepEqual(wrong, []);
});

test('the enhanced code speaks first: texts that sound like a block are the recipient\'s when the code says so', () => {
  const patterns = replyPatterns();
  // The same words with an x.7.x code would blame the IP; with x.1.x, x.2.x or x.6.x they never do.
  assert.equal(classifyReply(550, '550 5.7.1 Client host [192.0.2.1] blocked using zen.test', patterns), 'blocked-ip');
  assert.equal(classifyReply(550, '550 5.1.1 Client host [192.0.2.1] blocked using zen.test', patterns), 'fail');
  assert.equal(classifyReply(450, '450 4.2.0 Client host [192.0.2.1] blocked using zen.test', patterns), 'defer');
  assert.equal(classifyReply(554, '554 5.6.0 Client host [192.0.2.1] blocked using zen.test', patterns), 'fail');
  // 552 is read as 452 only at RCPT: after the dot it is the message's size or the mailbox's room.
  assert.equal(classifyReply(552, '552 5.2.2 Mailbox full', patterns, 'rcpt'), 'defer');
  assert.equal(classifyReply(552, '552 5.2.2 Mailbox full', patterns, 'data'), 'fail');
});

test('outbound.ip_block_patterns: an operator\'s pattern blames the IP in replies that may do so', () => {
  const patterns = replyPatterns(['\\bnot welcome here\\b']);
  assert.equal(classifyReply(550, '550 5.7.1 Your relay is not welcome here', patterns), 'blocked-ip');
  assert.equal(classifyReply(550, '550 Your relay is not welcome here', patterns), 'blocked-ip');
  // It replaces the built-in list, and cannot turn a recipient's reply into a block.
  assert.equal(classifyReply(550, '550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.test', patterns), 'fail');
  assert.equal(classifyReply(550, '550 5.1.1 <bob@example.net> not welcome here', patterns), 'fail');
});
