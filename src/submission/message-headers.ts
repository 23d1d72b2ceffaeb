import { fieldValue, headerFields, normalizeMessageId } from '../shared/mime.js';

/**
 * The headers the relay owes the message: a Received trace line (RFC 5321 4.4) naming the TLS and the queue id
 * (and the credential only if the operator asks), and Message-ID and Date when the client left them out (RFC 5322 3.6).
 */
export interface TraceInfo {
  queueId: string;
  hostname: string;
  heloName: string;
  clientIp: string;
  tls: { version: string; cipher: string } | null;
  /**
   * Null keeps the login out of the header (submission.received_shows_credential off, the default): every
   * recipient would otherwise learn a valid username to attack. The queue id maps back to it for staff.
   */
  username: string | null;
  recipients: readonly string[];
  at: number;
}

export function rfc5322Date(at: number): string {
  const d = new Date(at);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${day}, ${pad(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function receivedHeader(t: TraceInfo): string {
  const helo = t.heloName.replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
  const protocol = t.tls ? 'ESMTPSA' : 'ESMTPA';
  const tls = t.tls ? `\r\n\t(using ${t.tls.version} with cipher ${t.tls.cipher})` : '';
  const forClause = t.recipients.length === 1 ? `\r\n\tfor <${t.recipients[0]}>` : '';
  const login = t.username === null ? '' : `\r\n\t(authenticated as ${t.username})`;
  return (
    `Received: from ${helo} ([${t.clientIp}])${tls}${login}\r\n` +
    `\tby ${t.hostname} (Relais) with ${protocol} id ${t.queueId}${forClause};\r\n\t${rfc5322Date(t.at)}\r\n`
  );
}

/** Finds which of the given header names appear in the header block (names lower-case). */
function presentHeaders(header: string, names: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const line of header.split('\r\n')) {
    if (line === '' || line[0] === ' ' || line[0] === '\t') continue;
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (names.includes(name)) found.add(name);
    }
  }
  return found;
}

export function addTraceHeaders(body: Buffer, trace: TraceInfo): Buffer {
  // Headers end at the first empty line; a message without one is all header.
  let split = body.indexOf('\r\n\r\n');
  const startsWithBlank = body.subarray(0, 2).toString('latin1') === '\r\n';
  if (startsWithBlank) split = 0;
  const headerEnd = split < 0 ? body.length : startsWithBlank ? 0 : split + 2;
  const header = body.toString('latin1', 0, headerEnd);
  const present = presentHeaders(header, ['message-id', 'date']);
  let added = '';
  if (!present.has('message-id')) added += `Message-ID: <${trace.queueId}.${trace.at}@${trace.hostname}>\r\n`;
  if (!present.has('date')) added += `Date: ${rfc5322Date(trace.at)}\r\n`;
  const needsNewline = headerEnd > 0 && !header.endsWith('\r\n');
  const parts = [Buffer.from(receivedHeader(trace), 'latin1'), body.subarray(0, headerEnd)];
  if (needsNewline) parts.push(Buffer.from('\r\n'));
  if (added) parts.push(Buffer.from(added, 'latin1'));
  parts.push(body.subarray(headerEnd));
  if (split < 0 && !startsWithBlank) parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** The Message-ID a stored message carries (the relay adds one when missing), read from its header block only. */
export function messageIdOf(body: Buffer): string | null {
  const end = body.indexOf('\r\n\r\n');
  const header = body.toString('latin1', 0, end < 0 ? body.length : end);
  return normalizeMessageId(fieldValue(headerFields(header), 'message-id'));
}

/** The unfolded value of the first header `name` (lower-case) in the message's header block, or null. */
export function headerValue(message: Buffer, name: string): string | null {
  const end = message.indexOf('\r\n\r\n');
  const header = message.toString('latin1', 0, end < 0 ? Math.min(message.length, 64 * 1024) : end);
  const unfolded = header.replace(/\r\n(?=[ \t])/g, '');
  for (const line of unfolded.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim().slice(0, 998) || null;
  }
  return null;
}
