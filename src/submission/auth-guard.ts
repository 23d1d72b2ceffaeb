import type { Clock } from '../shared/clock.js';

export interface AuthGuardOptions {
  maxFailuresPerIp: number;
  maxFailuresPerUser: number;
  failureWindowMs: number;
  blockForMs: number;
}

export type GuardVerdict = { allowed: true } | { allowed: false; scope: 'ip' | 'username'; until: number };

/**
 * Slows password guessing. Failures are counted per client IP and per username over a window; past the limit
 * the IP is refused for a cool-down. A username under attack from many addresses is refused too, except from
 * addresses it recently logged in from, so an attacker cannot lock a customer's own applications out.
 */
export class AuthGuard {
  private readonly ipFailures = new Map<string, number[]>();
  private readonly userFailures = new Map<string, number[]>();
  private readonly ipBlockedUntil = new Map<string, number>();
  private readonly userBlockedUntil = new Map<string, number>();
  private readonly trustedIps = new Map<string, Map<string, number>>();
  private lastPrune = 0;

  constructor(private readonly options: AuthGuardOptions, private readonly clock: Clock) {}

  check(ip: string, username?: string): GuardVerdict {
    const now = this.clock.now();
    const ipUntil = this.ipBlockedUntil.get(ip) ?? 0;
    if (ipUntil > now) return { allowed: false, scope: 'ip', until: ipUntil };
    if (username !== undefined) {
      const userUntil = this.userBlockedUntil.get(username) ?? 0;
      const trustedUntil = this.trustedIps.get(username)?.get(ip) ?? 0;
      if (userUntil > now && trustedUntil <= now) return { allowed: false, scope: 'username', until: userUntil };
    }
    return { allowed: true };
  }

  /** Returns what the failure triggered, for the log line a fail2ban filter matches. */
  recordFailure(ip: string, username: string): { ipBlocked: boolean; usernameBlocked: boolean } {
    const now = this.clock.now();
    this.prune(now);
    const ipBlocked = this.count(this.ipFailures, ip, now) >= this.options.maxFailuresPerIp;
    if (ipBlocked) this.ipBlockedUntil.set(ip, now + this.options.blockForMs);
    const usernameBlocked = username !== '' && this.count(this.userFailures, username, now) >= this.options.maxFailuresPerUser;
    if (usernameBlocked) this.userBlockedUntil.set(username, now + this.options.blockForMs);
    return { ipBlocked, usernameBlocked };
  }

  recordSuccess(ip: string, username: string): void {
    const now = this.clock.now();
    this.ipFailures.delete(ip);
    let trusted = this.trustedIps.get(username);
    if (!trusted) this.trustedIps.set(username, (trusted = new Map()));
    trusted.set(ip, now + 7 * this.options.blockForMs + this.options.failureWindowMs);
  }

  private count(map: Map<string, number[]>, key: string, now: number): number {
    const since = now - this.options.failureWindowMs;
    const times = (map.get(key) ?? []).filter((t) => t > since);
    times.push(now);
    map.set(key, times);
    return times.length;
  }

  /** Keeps memory bounded under a flood of distinct addresses or usernames. */
  private prune(now: number): void {
    if (now - this.lastPrune < this.options.failureWindowMs / 4) return;
    this.lastPrune = now;
    const since = now - this.options.failureWindowMs;
    for (const map of [this.ipFailures, this.userFailures]) {
      for (const [key, times] of map) if ((times[times.length - 1] ?? 0) <= since) map.delete(key);
    }
    for (const map of [this.ipBlockedUntil, this.userBlockedUntil]) {
      for (const [key, until] of map) if (until <= now) map.delete(key);
    }
    for (const [username, ips] of this.trustedIps) {
      for (const [ip, until] of ips) if (until <= now) ips.delete(ip);
      if (ips.size === 0) this.trustedIps.delete(username);
    }
  }
}
