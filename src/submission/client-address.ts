/** A client's address as the limits and logs see it: IPv4 clients on a dual-stack socket without the ::ffff: prefix. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}
