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

  /**
   * The next usable address for this destination, skipping those already tried, those out of rotation and, for
   * a credential pinned to part of the pool, those outside `allowed`; undefined when none is left.
   */
  choose(destination: string, tried: ReadonlySet<string | null>, now: number, allowed?: ReadonlySet<string>): OutboundIp | undefined {
    for (let i = 0; i < this.ips.length; i++) {
      const ip = this.ips[(this.cursor + i) % this.ips.length] as OutboundIp;
      if (tried.has(ip.address) || this.isAvoided(ip.address, destination, now) || !this.usable(ip.address, allowed)) continue;
      this.cursor = (this.cursor + i + 1) % this.ips.length;
      return ip;
    }
    return undefined;
  }

  /** In rotation (not blocklisted) and, when the credential is pinned, one of its addresses. */
  usable(address: string | null, allowed?: ReadonlySet<string>): boolean {
    if (address === null) return allowed === undefined;
    return !this.outOfRotation.has(address) && (allowed === undefined || allowed.has(address));
  }

  /**
   * When choose() finds nothing for a destination because every usable address is avoided for it: the one whose
   * avoidance ends first, so that retries go on and a destination's refusals never become a recipient's
   * failure. Addresses out of rotation (blocklisted) are not candidates unless `lastResort` says so (the
   * operator's own alerts): mail then waits in the queue until an address is delisted.
   */
  leastRecentlyAvoided(destination: string, now: number, options: { allowed?: ReadonlySet<string>; lastResort?: boolean } = {}): OutboundIp | undefined {
    const candidates = this.ips.filter((ip) => ip.address === null || options.allowed === undefined || options.allowed.has(ip.address));
    const rank = (ip: OutboundIp): [number, number] => [
      ip.address !== null && this.outOfRotation.has(ip.address) ? 1 : 0,
      ip.address === null ? now : (this.avoided.get(ip.address)?.get(destination)?.until ?? now),
    ];
    let best: OutboundIp | undefined;
    for (const ip of candidates) {
      if (!options.lastResort && !this.usable(ip.address, options.allowed)) continue;
      if (best === undefined) {
        best = ip;
        continue;
      }
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

  /** Why an address is out of rotation (its listings), or undefined while it is in. */
  outOfRotationReason(address: string): string | undefined {
    return this.outOfRotation.get(address);
  }

  /** Whether any address of the pool is in rotation and allowed: if none, mail waits in the queue. */
  anyUsable(allowed?: ReadonlySet<string>): boolean {
    return this.ips.some((ip) => this.usable(ip.address, allowed));
  }

  setOutOfRotation(address: string, reason: string | null): void {
    if (reason === null) this.outOfRotation.delete(address);
    else this.outOfRotation.set(address, reason);
  }
}
