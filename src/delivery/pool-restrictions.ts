import type { Logger } from '../log/logger.js';
import type { Listing } from '../store/blocklists.js';
import type { Store } from '../store/store.js';
import type { ConnectionPool } from './connection-pool.js';
import type { IpPool } from './ip-pool.js';

/**
 * What the store says limits the pool, applied to this node's IpPool: addresses listed on a monitored blocklist
 * leave the rotation (and their idle connections are closed), credentials pinned to some addresses use only
 * those. Every node re-reads both every `refreshMs` (dnsbl.refresh), so a listing seen by any node takes every
 * node's address out within that time; the node that saw it applies it at once.
 */
export class PoolRestrictions {
  private listed = new Map<string, string>();
  private pins = new Map<number, ReadonlySet<string>>();
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly ips: IpPool,
    private readonly connections: ConnectionPool,
    /** dnsbl.ip_zones: a listing in a zone no longer monitored takes nothing out. */
    private readonly zones: readonly string[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  async refreshIfDue(now: number): Promise<void> {
    if (now - this.lastRefresh < this.refreshMs) return;
    await this.refresh(now);
  }

  /** One refresh at a time: the scheduler's pass and the monitor's round may ask together. */
  refresh(now: number): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        this.applyListings(await this.store.blocklists.listedIps());
        const pins = await this.store.blocklists.allPoolPins();
        this.pins = new Map([...pins].map(([credentialId, addresses]) => [credentialId, new Set(addresses)]));
        this.lastRefresh = now;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Takes out of rotation every pool address with a listing in a monitored zone, and puts back the others. */
  applyListings(listings: readonly Listing[]): void {
    const zones = new Set(this.zones);
    const now = new Map<string, string>();
    for (const l of listings) {
      if (!l.listed || !zones.has(l.zone)) continue;
      const text = `listed in ${l.zone}${l.reason ? `: ${l.reason}` : ` (${l.code ?? 'listed'})`}`;
      now.set(l.subject, now.has(l.subject) ? `${now.get(l.subject)}; ${text}` : text);
    }
    for (const ip of this.ips.ips) {
      if (ip.address === null) continue;
      const reason = now.get(ip.address);
      const before = this.listed.get(ip.address);
      if (reason !== undefined && before === undefined) {
        this.ips.setOutOfRotation(ip.address, reason);
        const closed = this.connections.closeIdleFrom(ip.address);
        this.logger.warn({ event: 'ip_out_of_rotation', source_ip: ip.address, reason, idle_closed: closed }, 'outbound address taken out of rotation');
      } else if (reason === undefined && before !== undefined) {
        this.ips.setOutOfRotation(ip.address, null);
        this.logger.info({ event: 'ip_back_in_rotation', source_ip: ip.address }, 'outbound address back in rotation');
      } else if (reason !== undefined) {
        this.ips.setOutOfRotation(ip.address, reason);
      }
    }
    this.listed = new Map([...now].filter(([address]) => this.ips.ips.some((ip) => ip.address === address)));
  }

  /** The addresses a credential's mail may leave from; undefined: the whole pool. */
  allowedFor(credentialId: number | null): ReadonlySet<string> | undefined {
    return credentialId === null ? undefined : this.pins.get(credentialId);
  }
}
