import type { Clock } from '../shared/clock.js';

export interface AuthGuardOptions {
  maxFailuresPerIp: number;
  maxFailuresPerUser: number;
  failureWindowMs: number;
  blockForMs: number;
  /** Password checks running at once for one client address; the rest wait their turn. */
  maxParallelPerIp: number;
}

export type GuardVerdict = { allowed: true } | { allowed: false; scope: 'ip' | 'username'; until: number };

/** A password check that may run now; its outcome must be reported exactly once. */
export interface AuthPermit {
  /** Returns what the failure triggered, for the log line a fail2ban filter matches. */
  failed(): { ipBlocked: boolean; usernameBlocked: boolean };
  succeeded(): void;
  /** The check did not happen (the client left while waiting): nothing is counted. */
  cancelled(): void;
}

export type Admission = { allowed: true; permit: AuthPermit } | { allowed: false; scope: 'ip' | 'username'; until: number };

interface Gate {
  running: number;
  waiters: (() => void)[];
}

/**
 * Slows password guessing. Failures are counted per client IP and per username over a window; past the limit
 * the IP is refused for a cool-down. A username under attack from many addresses is refused too, except from
 * addresses it recently logged in from, so an attacker cannot lock a customer's own applications out.
 *
 * Checks in flight count against the limit: an address may only have as many password checks running as it
 * has failures left (and never more than maxParallelPerIp), so a burst of parallel attempts gets no more
 * guesses than a serial one, and cannot occupy the hashing threads every other customer needs.
 */
export class AuthGuard {
  private readonly ipFailures = new Map<string, number[]>();
  private readonly userFailures = new Map<string, number[]>();
  private readonly ipBlockedUntil = new Map<string, number>();
  private readonly userBlockedUntil = new Map<string, number>();
  private readonly trustedIps = new Map<string, Map<string, number>>();
  private readonly gates = new Map<string, Gate>();
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

  /** Waits until this address may run one more password check, or says it is blocked. */
  async admit(ip: string, username: string): Promise<Admission> {
    for (;;) {
      const verdict = this.check(ip, username);
      if (!verdict.allowed) return verdict;
      const gate = this.gate(ip);
      const failuresLeft = this.options.maxFailuresPerIp - this.recent(this.ipFailures, ip, this.clock.now());
      // At least one: a cool-down shorter than the failure window must not leave an address waiting forever.
      if (gate.running < Math.max(1, Math.min(this.options.maxParallelPerIp, failuresLeft))) {
        gate.running++;
        return { allowed: true, permit: this.permit(ip, username, gate) };
      }
      await new Promise<void>((resolve) => gate.waiters.push(resolve));
    }
  }

  private permit(ip: string, username: string, gate: Gate): AuthPermit {
    let done = false;
    const finish = () => {
      if (done) throw new Error('an AUTH permit was settled twice');
      done = true;
      gate.running--;
      // Everyone waiting re-checks: a failure may have blocked the address, a success left room.
      const waiters = gate.waiters.splice(0);
      if (gate.running === 0 && waiters.length === 0) this.gates.delete(ip);
      for (const wake of waiters) wake();
    };
    return {
      failed: () => {
        const outcome = this.recordFailure(ip, username);
        finish();
        return outcome;
      },
      succeeded: () => {
        this.recordSuccess(ip, username);
        finish();
      },
      cancelled: finish,
    };
  }

  private gate(ip: string): Gate {
    let gate = this.gates.get(ip);
    if (!gate) this.gates.set(ip, (gate = { running: 0, waiters: [] }));
    return gate;
  }

  /** A failure that needed no password check (a malformed exchange). */
  recordFailure(ip: string, username: string): { ipBlocked: boolean; usernameBlocked: boolean } {
    const now = this.clock.now();
    this.prune(now);
    const ipBlocked = this.count(this.ipFailures, ip, now) >= this.options.maxFailuresPerIp;
    if (ipBlocked) this.ipBlockedUntil.set(ip, now + this.options.blockForMs);
    const usernameBlocked = username !== '' && this.count(this.userFailures, username, now) >= this.options.maxFailuresPerUser;
    if (usernameBlocked) this.userBlockedUntil.set(username, now + this.options.blockForMs);
    return { ipBlocked, usernameBlocked };
  }

  /**
   * Clears only the username's own failures: the address keeps its count, or one valid login between
   * guesses would reset the limit (9 guesses, 1 login, 9 guesses...).
   */
  private recordSuccess(ip: string, username: string): void {
    const now = this.clock.now();
    this.userFailures.delete(username);
    let trusted = this.trustedIps.get(username);
    if (!trusted) this.trustedIps.set(username, (trusted = new Map()));
    trusted.set(ip, now + 7 * this.options.blockForMs + this.options.failureWindowMs);
  }

  private recent(map: Map<string, number[]>, key: string, now: number): number {
    const since = now - this.options.failureWindowMs;
    return (map.get(key) ?? []).filter((t) => t > since).length;
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
