/**
 * What a remote server's reply means for a recipient, as data: a table of patterns, not nested ifs. Operators
 * extend the patterns (outbound.ip_block_patterns) without touching code.
 */
export type Verdict = 'delivered' | 'defer' | 'fail' | 'blocked-ip';

/**
 * Texts by which receivers blame the sending IP rather than the message or the mailbox. A 5xx matching one of
 * these is not a failure of the recipient while another outbound IP remains to try.
 */
export const DEFAULT_IP_BLOCK_PATTERNS: readonly string[] = [
  '\\b(block|black|deny|ban)[ -]?list(ed)?\\b',
  '\\b(blocked|listed|banned)\\b.*\\b(ip|address|host|client|using|by|in|on)\\b',
  '\\b(ip|address|host|client)\\b.*\\b(blocked|listed|banned|blacklisted|rejected|refused)\\b',
  '\\b(spamhaus|spamcop|barracuda|sorbs|uceprotect|zen\\.|dnsbl|rbl)\\b',
  '\\b(poor|bad|low) (ip )?reputation\\b',
  '\\bservice unavailable;? client host\\b',
];

export function compilePatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((source) => new RegExp(source, 'i'));
}

export function classifyReply(code: number, text: string, ipBlockPatterns: readonly RegExp[]): Verdict {
  if (code >= 200 && code < 300) return 'delivered';
  const blamesIp = ipBlockPatterns.some((pattern) => pattern.test(text));
  // 421 closes the session: the server does not want this client now, so another IP is tried at once.
  if (code === 421) return 'blocked-ip';
  if (code >= 400 && code < 500) return blamesIp ? 'blocked-ip' : 'defer';
  if (code >= 500 && code < 600) return blamesIp ? 'blocked-ip' : 'fail';
  return 'defer';
}

/** Connection-level trouble (refused, timed out, reset, TLS failure): never the recipient's fault. */
export type ConnectionTrouble = 'refused' | 'timeout' | 'dropped' | 'tls' | 'dns';
