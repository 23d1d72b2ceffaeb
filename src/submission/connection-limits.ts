import type { Clock } from '../shared/clock.js';
import { NetworkList } from './client-address.js';
import { REPLY, type Reply } from './replies.js';

export interface ConnectionLimitOptions {
  /** Open connections on all submission ports together. */
  maxConnections: number;
  /** Open connections from one client address. */
  maxPerIp: number;
  /** New connections from one client address per minute. */
  maxRatePerIp: number;
  /** Client networks (CIDR) the per-address limits do not apply to, like Postfix's smtpd_client_event_limit_exceptions. */
  exceptions: readonly string[];
}

export type Admission = { admitted: true; release(): void } | { admitted: false; reply: Reply; reason: 'total' | 'per_ip' | 'rate' };

const RATE_WINDOW_MS = 60_000;

/**
 * Counts connections the way Postfix's anvil does: every accepted TCP connection holds a slot from accept to
 * close (a client still in its TLS handshake too), so one address cannot take every slot, and a client that
 * opens connections faster than any real application would is told to slow down.
 */
export class ConnectionLimiter {
  private total = 0;
  private readonly open = new Map<string, number>();
  /** Start times of recent connections per address, oldest first. */
  private readonly recent = new Map<string, number[]>();
  private readonly exempt: NetworkList;
  private lastPrune = 0;

  constructor(private readonly options: ConnectionLimitOptions, private readonly clock: Clock) {
    this.exempt = new NetworkList(options.exceptions);
  }

  admit(ip: string): Admission {
    const now = this.clock.now();
    this.prune(now);
    if (this.total >= this.options.maxConnections) return { admitted: false, reply: REPLY.tooManyConnections, reason: 'total' };
    const limited = !this.exempt.has(ip);
    if (limited) {
      if ((this.open.get(ip) ?? 0) >= this.options.maxPerIp) {
        return { admitted: false, reply: REPLY.tooManyConnectionsFromIp(this.options.maxPerIp), reason: 'per_ip' };
      }
      const times = this.recentTimes(ip, now);
      if (times.length >= this.options.maxRatePerIp) {
        return { admitted: false, reply: REPLY.connectionRateExceeded(this.options.maxRatePerIp), reason: 'rate' };
      }
      times.push(now);
    }
    this.total++;
    this.open.set(ip, (this.open.get(ip) ?? 0) + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const count = (this.open.get(ip) ?? 1) - 1;
        if (count <= 0) this.open.delete(ip);
        else this.open.set(ip, count);
      },
    };
  }

  get openConnections(): number {
    return this.total;
  }

  private recentTimes(ip: string, now: number): number[] {
    let times = this.recent.get(ip);
    if (!times) this.recent.set(ip, (times = []));
    const since = now - RATE_WINDOW_MS;
    let drop = 0;
    while (drop < times.length && (times[drop] as number) <= since) drop++;
    if (drop) times.splice(0, drop);
    return times;
  }

  /** Keeps memory bounded when many addresses connect once. */
  private prune(now: number): void {
    if (now - this.lastPrune < RATE_WINDOW_MS) return;
    this.lastPrune = now;
    const since = now - RATE_WINDOW_MS;
    for (const [ip, times] of this.recent) if ((times[times.length - 1] ?? 0) <= since) this.recent.delete(ip);
  }
}
