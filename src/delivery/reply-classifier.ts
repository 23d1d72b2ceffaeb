/**
 * What a remote server's reply means for a recipient, as data: tables of patterns, not nested ifs. Operators
 * extend the patterns (outbound.ip_block_patterns) without touching code.
 *
 * The enhanced status code (RFC 3463) is read first, because it is the receiver's own statement of whose
 * problem it is: x.1.x and x.2.x are the recipient's address and mailbox, x.3.x the receiving system's, x.4.x
 * the network's, x.5.x the protocol's, x.6.x the content's. Another source address changes none of these, so a
 * reply with such a code never blames the sending IP, whatever its text says ("Recipient address rejected:
 * User unknown", "Greylisted"). Only x.7.x (security and policy), x.0.x (undefined) and replies without an
 * enhanced code are read further, against anchored patterns.
 */
export type Verdict = 'delivered' | 'defer' | 'fail' | 'blocked-ip' | 'slow-down';

/** The SMTP stage a reply answered: at RCPT a 552 is read as 452 (RFC 5321 4.5.3.1.10). */
export type ReplyStage = 'connect' | 'mail' | 'rcpt' | 'data';

/**
 * Texts by which receivers blame the sending IP rather than the message, the sender or the mailbox. Each is
 * anchored on a phrase that names the client, its address or a blocklist of addresses, so that words such as
 * "address", "rejected" or "blocked" alone never count ("Recipient address rejected", "blocked by content
 * filter" are not about the IP).
 */
export const DEFAULT_IP_BLOCK_PATTERNS: readonly string[] = [
  // Postfix reject_rbl_client and its copies: "Client host [192.0.2.1] blocked using zen.spamhaus.org".
  '\\bblocked using\\b',
  // Postfix client restrictions: "Client host rejected: cannot find your hostname", "Client host [..] blocked".
  '\\bclient host (\\[[^\\]]*\\] )?(rejected|blocked)\\b',
  // The EHLO name belongs to the source address (outbound.ips): "Helo command rejected: Host not found".
  '\\bhelo command rejected\\b',
  // "your IP address", "banned sending IP", "The IP address sending this message", "sender IP".
  '\\b(your|sending|sender|source|client|the|this) ip( address)?\\b',
  // Public IP blocklists by name; Spamhaus's DBL lists domains and is excepted below.
  '\\b(spamhaus|spamcop|barracuda|sorbs|uceprotect|psbl|dnsbls?|rbls?)\\b',
  // "Your IP address is listed", "host [192.0.2.1] is blacklisted".
  '\\b(ip|host|client|server)( address)?( \\[[^\\]]*\\])? (is |was |has been )?(currently )?(listed|black ?listed|block ?listed|deny ?listed|blocked|banned)\\b',
  '\\b(black|block|deny|ban) ?list(ed)?\\b',
  // Yahoo "[TSS04] Messages from 192.0.2.1 temporarily deferred", Microsoft "try again later from [192.0.2.1]",
  // Postfix anvil "too many connections from 192.0.2.1": a limit kept per client address.
  '\\bfrom \\[?(\\d{1,3}\\.){3}\\d{1,3}\\]?',
  '\\bfrom \\[(ipv6:)?[0-9a-f:]*:[0-9a-f:.]*\\]',
  '\\b(poor|bad|low) (ip )?reputation\\b',
  '\\b(reverse dns|ptr record|rdns)\\b',
  // A link to look the address up: Proofpoint "ipcheck.proofpoint.com/?ip=192.0.2.1", Spamhaus "query/ip/...".
  '[?&/]ip[=/]\\[?[0-9a-f]*[.:]',
];

/**
 * Texts that say the problem is not the sending IP even in an x.7.x reply or one without an enhanced code, read
 * before the IP patterns: greylisting is per (address, sender, recipient) and restarts on a new address, a
 * content filter sees the same message from any address, and a domain's reputation or a domain blocklist
 * (Spamhaus DBL) follows the sender's domain.
 */
export const NOT_IP_PATTERNS: readonly string[] = [
  '\\bgr[ae]y ?list',
  '\\bcontent (filter|rejected)\\b',
  '\\b(spam|message|mail) content\\b',
  '\\b(virus|malware|infected)\\b',
  '\\breputation of the (sending |sender |from )?domain\\b',
  '\\bdomain reputation\\b',
  '\\bdbl\\.spamhaus\\b',
  '\\b(sender|recipient) address (\\[[^\\]]*\\] )?(rejected|blocked)\\b',
  // cPanel's Exim for an unknown recipient: "The account or domain may not exist, they may be blacklisted, ...".
  '\\baccount or domain may not exist\\b',
];

/**
 * Enhanced codes that blame the sending address by definition, whatever the text: Gmail's rate limit of an
 * address (4.7.28) and missing PTR (5.7.25), Microsoft's banned sender and sending IP (5.7.511, 5.7.606 to
 * 5.7.609) and its throttling of an address's suspicious traffic (4.7.500 to 4.7.699).
 */
export const IP_STATUS_CODES = /^(4\.7\.28|5\.7\.25|5\.7\.511|5\.7\.60[6-9]|4\.7\.[56]\d\d)$/;

export interface ReplyPatterns {
  /** Blame the sending IP (outbound.ip_block_patterns, or the defaults). */
  ip: readonly RegExp[];
  /** Never blame the IP, checked first. */
  notIp: readonly RegExp[];
}

export function compilePatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((source) => new RegExp(source, 'i'));
}

const COMPILED_NOT_IP = compilePatterns(NOT_IP_PATTERNS);

/** A bare list of IP patterns gets the built-in exceptions. */
function withExceptions(patterns: ReplyPatterns | readonly RegExp[]): ReplyPatterns {
  return 'ip' in patterns ? patterns : { ip: patterns, notIp: COMPILED_NOT_IP };
}

/** The operator's (or the default) IP patterns with the built-in exceptions. */
export function replyPatterns(ipBlockPatterns: readonly string[] = DEFAULT_IP_BLOCK_PATTERNS): ReplyPatterns {
  return { ip: compilePatterns(ipBlockPatterns), notIp: COMPILED_NOT_IP };
}

/** "550 5.1.1 text", "550-5.1.1 text" (a multi-line reply joined) or "5.1.1 text": the enhanced code at the start. */
const LEADING_ENHANCED = /^(?:\d{3}[ -])?\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[,;:])/;

export function enhancedCode(text: string): { cls: string; subject: number; detail: number } | undefined {
  const found = LEADING_ENHANCED.exec(text.trim());
  if (!found) return undefined;
  return { cls: found[1] as string, subject: Number(found[2]), detail: Number(found[3]) };
}

/** Whether a reply blames the sending IP: by its enhanced code first, then by its text. */
export function blamesIp(text: string, patterns: ReplyPatterns | readonly RegExp[]): boolean {
  const { ip, notIp } = withExceptions(patterns);
  const enhanced = enhancedCode(text);
  if (enhanced && enhanced.subject !== 7 && enhanced.subject !== 0) return false;
  if (enhanced && IP_STATUS_CODES.test(`${enhanced.cls}.${enhanced.subject}.${enhanced.detail}`)) return true;
  if (notIp.some((pattern) => pattern.test(text))) return false;
  return ip.some((pattern) => pattern.test(text));
}

/**
 * The verdict on one reply. `blocked-ip`: try another source address now and avoid this one for the
 * destination. `slow-down`: a 421 that does not blame the IP (too many connections, shutting down): deferred,
 * and the host is given fewer connections.
 */
export function classifyReply(code: number, text: string, patterns: ReplyPatterns | readonly RegExp[], stage?: ReplyStage): Verdict {
  if (code >= 200 && code < 300) return 'delivered';
  // RFC 5321 4.5.3.1.10: RFC 821 listed "too many recipients" as 552; at RCPT it is read as the 452 it means.
  const effective = stage === 'rcpt' && code === 552 ? 452 : code;
  if (effective >= 400 && effective < 600 && blamesIp(text, patterns)) return 'blocked-ip';
  if (effective === 421) return 'slow-down';
  if (effective >= 400 && effective < 500) return 'defer';
  if (effective >= 500 && effective < 600) return 'fail';
  return 'defer';
}

/** Connection-level trouble (refused, timed out, reset, TLS failure): never the recipient's fault. */
export type ConnectionTrouble = 'refused' | 'timeout' | 'dropped' | 'tls' | 'dns';
