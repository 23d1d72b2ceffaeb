/**
 * ARF feedback reports (RFC 5965) as real feedback loops write them, around the copy of a message a receiver got.
 * Three styles: Yahoo's (the whole message inline as message/rfc822), Microsoft JMRP's (the message as a base64
 * attachment), and AOL's (text/rfc822-headers: the header only).
 */
export interface ReportOptions {
  feedbackType?: string;
  mailFrom?: string;
  rcptTo?: string;
  sourceIp?: string;
  boundary?: string;
}

const CRLF = '\r\n';

function headerOf(message: Buffer): string {
  const text = message.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? text : text.slice(0, end + 2);
}

function feedbackPart(userAgent: string, o: ReportOptions): string {
  return [
    'Content-Type: message/feedback-report',
    '',
    `Feedback-Type: ${o.feedbackType ?? 'abuse'}`,
    `User-Agent: ${userAgent}`,
    'Version: 1',
    `Original-Mail-From: <${o.mailFrom ?? 'sender@customer.test'}>`,
    `Original-Rcpt-To: <${o.rcptTo ?? 'rcpt@example.test'}>`,
    'Arrival-Date: Thu, 8 Mar 2026 14:00:00 +0000',
    `Source-IP: ${o.sourceIp ?? '127.0.0.1'}`,
    'Reported-Domain: customer.test',
    'Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=customer.test',
    '',
  ].join(CRLF);
}

export function yahooStyleReport(original: Buffer, o: ReportOptions = {}): Buffer {
  const b = o.boundary ?? '----=_Part_4201_1.1709906400';
  return Buffer.concat([
    Buffer.from(
      [
        'From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.test>',
        'To: abuse@relay.test',
        'Subject: FW: report',
        'Date: Thu, 8 Mar 2026 14:05:00 +0000',
        'Message-ID: <fbl.1@arf.mail.yahoo.test>',
        'MIME-Version: 1.0',
        `Content-Type: multipart/report; report-type=feedback-report;${CRLF}\tboundary="${b}"`,
        '',
        'This is a multi-part message in MIME format.',
        `--${b}`,
        'Content-Type: text/plain; charset=us-ascii',
        'Content-Transfer-Encoding: 7bit',
        '',
        'This is an email abuse report for an email message received from IP 127.0.0.1 on Thu, 8 Mar 2026.',
        'For more information about this format please see http://www.mipassoc.org/arf/.',
        '',
        `--${b}`,
        feedbackPart('Yahoo!-Mail-Feedback/2.0', o),
        `--${b}`,
        'Content-Type: message/rfc822',
        'Content-Disposition: inline',
        '',
        '',
      ].join(CRLF),
      'latin1',
    ),
    original,
    Buffer.from(`${CRLF}--${b}--${CRLF}`, 'latin1'),
  ]);
}

export function jmrpStyleReport(original: Buffer, o: ReportOptions = {}): Buffer {
  const b = o.boundary ?? 'JMRP_BOUNDARY_5f1c';
  const base64 = original.toString('base64').replace(/(.{76})/g, `$1${CRLF}`);
  return Buffer.from(
    [
      'X-HmXmrOriginalRecipient: <rcpt@example.test>',
      'From: staff@hotmail.test',
      'To: abuse@relay.test',
      'Subject: complaint about message from 127.0.0.1',
      'Date: Thu, 8 Mar 2026 14:06:00 +0000',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type="feedback-report"; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset="us-ascii"',
      '',
      'This is an email abuse report for an email message received from IP 127.0.0.1.',
      '',
      `--${b}`,
      feedbackPart('Microsoft JMRP/1.0', o),
      `--${b}`,
      'Content-Type: message/rfc822; name="original.eml"',
      'Content-Disposition: attachment; filename="original.eml"',
      'Content-Transfer-Encoding: base64',
      '',
      base64,
      `--${b}--`,
      '',
    ].join(CRLF),
    'latin1',
  );
}

export function headersOnlyReport(original: Buffer, o: ReportOptions = {}): Buffer {
  const b = o.boundary ?? 'boundary-AOL-1';
  return Buffer.from(
    [
      'From: scomp@aol.test',
      'To: abuse@relay.test',
      'Subject: Email Feedback Report',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=feedback-report; boundary=${b}`,
      '',
      `--${b}`,
      'Content-Type: text/plain',
      '',
      'A user reported this message as spam.',
      `--${b}`,
      feedbackPart('AOL SComp', o),
      `--${b}`,
      'Content-Type: text/rfc822-headers',
      '',
      headerOf(original),
      `--${b}--`,
      '',
    ].join(CRLF),
    'latin1',
  );
}

/** The message without the Received fields Relais wrote (a receiver that rewrote its trace, or a forward). */
export function withoutRelaisReceived(message: Buffer): Buffer {
  const text = message.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const header = text.slice(0, end + 2);
  const lines = header.split('\r\n');
  // The Received field Relais writes is folded: its first line names the client, a later one "(Relais)".
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/^Received:/i.test(line)) {
      let j = i + 1;
      let block = line;
      while (j < lines.length && /^[ \t]/.test(lines[j] as string)) block += lines[j++];
      if (block.includes('(Relais)')) {
        i = j - 1;
        continue;
      }
    }
    kept.push(line);
  }
  return Buffer.from(kept.join('\r\n') + text.slice(end + 2), 'latin1');
}
