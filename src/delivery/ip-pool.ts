/**
 * The outbound addresses. Each connection is bound to one; load is spread round-robin; an address a destination
 * refused is avoided for that destination for a while (outbound.avoid_ip_for), and may later be taken out of
 * rotation altogether (blocklist self-monitoring).
 */
export interface OutboundIp {
  /** null: let the operating system choose (no outbound.ips configured). */
  address: string | null;
  ehlo: string;
}

export class IpPool {
  private readonly avoided = new Map<string, Map<string, { until: number; reason: string }>>();
  private readonly outOfRotation = new Map<string, string>();
  private cursor = 0;

  constructor(readonly ips: readonly OutboundIp[]) {}

  static fromConfig(ips: readonly { address: string; ehlo?: string }[], hostname: string): IpPool {
    return new IpPool(ips.length ? ips.map((ip) => ({ address: ip.address, ehlo: ip.ehlo ?? hostname })) : [{ address: null, ehlo: hostname }]);
  }

  /** The next usable address for this destination, skipping those already tried; undefined when none is left. */
  choose(destination: string, tried: ReadonlySet<string | null>, now: number): OutboundIp | undefined {
    for (let i = 0; i < this.ips.length; i++) {
      const ip = this.ips[(this.cursor + i) % this.ips.length] as OutboundIp;
      if (tried.has(ip.address) || this.isAvoided(ip.address, destination, now)) continue;
      if (ip.address !== null && this.outOfRotation.has(ip.address)) continue;
      this.cursor = (this.cursor + i + 1) % this.ips.length;
      return ip;
    }
    return undefined;
  }

  /**
   * When choose() finds nothing for a destination (every address avoided, or out of rotation): the address
   * whose avoidance ends first, in rotation if any is, so that retries go on and the pool's state never
   * becomes a recipient's failure.
   */
  leastRecentlyAvoided(destination: string, now: number): OutboundIp {
    const rank = (ip: OutboundIp): [number, number] => [
      ip.address !== null && this.outOfRotation.has(ip.address) ? 1 : 0,
      ip.address === null ? now : (this.avoided.get(ip.address)?.get(destination)?.until ?? now),
    ];
    let best = this.ips[0] as OutboundIp;
    for (const ip of this.ips) {
      const [a, b] = rank(ip);
      const [x, y] = rank(best);
      if (a < x || (a === x && b < y)) best = ip;
    }
    return best;
  }

  avoid(address: string | null, destination: string, until: number, reason: string): void {
    if (address === null) return;
    let map = this.avoided.get(address);
    if (!map) this.avoided.set(address, (map = new Map()));
    map.set(destination, { until, reason });
  }

  isAvoided(address: string | null, destination: string, now: number): boolean {
    if (address === null) return false;
    const entry = this.avoided.get(address)?.get(destination);
    return entry !== undefined && entry.until > now;
  }

  /** Destinations an address is avoided for now. */
  avoidedFor(address: string, now: number): string[] {
    return [...(this.avoided.get(address) ?? new Map<string, { until: number }>())].filter(([, e]) => e.until > now).map(([d]) => d);
  }

  /** Forgets avoidances that have run out, so the map does not grow with every destination ever seen. */
  prune(now: number): void {
    for (const [address, map] of this.avoided) {
      for (const [destination, entry] of map) if (entry.until <= now) map.delete(destination);
      if (map.size === 0) this.avoided.delete(address);
    }
  }

  setOutOfRotation(address: string, reason: string | null): void {
    if (reason === null) this.outOfRotation.delete(address);
    else this.outOfRotation.set(address, reason);
  }
}
