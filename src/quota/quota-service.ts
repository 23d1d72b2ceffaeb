import type { Clock } from '../shared/clock.js';
import type { UsageBucket } from '../store/records.js';
import type { Store } from '../store/store.js';
import { bucketOf, countFrom, freesAt, leavesWindowAt, quotaWindow, type QuotaWindow } from './window.js';

const HOUR = 3_600_000;

export type Reservation =
  | { granted: true; reservationId: number }
  | { granted: false; reason: 'quota'; quota: number; windowMs: number; freesAt: number | null }
  | { granted: false; reason: 'no_plan' };

export interface Usage {
  sent: number;
  held: number;
  quota: number;
  remaining: number;
  suspended: null | { reason: 'quota' | 'no_plan'; liftsAt: number | null };
  /** When the oldest unit still in the window leaves it. */
  nextFreeAt: number | null;
  windowMs: number;
  /** The units committed in each bucket still inside the window, oldest first (for charts by hour). */
  buckets: UsageBucket[];
}

/** The per-credential sliding quota: reserve at RCPT, commit with the enqueue, release on abort. */
export class QuotaService {
  readonly window: QuotaWindow;

  constructor(private readonly store: Store, private readonly clock: Clock, windowMs: number, private readonly reservationTtlMs: number) {
    this.window = quotaWindow(windowMs);
  }

  async reserve(credentialId: number, units: number, reservationId?: number): Promise<Reservation> {
    const now = this.clock.now();
    const result = await this.store.reserveQuota({
      credentialId,
      units,
      now,
      countFrom: countFrom(this.window, now),
      expiresAt: now + this.reservationTtlMs,
      reservationId,
    });
    if (result.granted) return { granted: true, reservationId: result.reservationId };
    if (result.snapshot.quota === 0) return { granted: false, reason: 'no_plan' };
    return {
      granted: false,
      reason: 'quota',
      quota: result.snapshot.quota,
      windowMs: this.window.windowMs,
      freesAt: freesAt(this.window, result.snapshot, units, now),
    };
  }

  release(reservationId: number): Promise<void> {
    return this.store.releaseReservation(reservationId);
  }

  /**
   * Keeps the usage table small: buckets older than two windows count for nothing (one window of history is
   * kept past the sliding one, for "sent over the last 24 hours" views).
   */
  prune(): Promise<number> {
    const now = this.clock.now();
    return this.store.pruneQuota(countFrom(this.window, now) - this.window.windowMs, now);
  }

  /** The bucket that units committed now are counted in. */
  usageBucket(at: number): number {
    return bucketOf(this.window, at);
  }

  /**
   * Units committed per clock hour over the last `hours` hours, oldest first, the current (partial) hour last:
   * the console's chart. Read from the same per-window buckets as the quota, so it adds up to what was counted.
   */
  async sentByHour(credentialId: number, hours = 24): Promise<{ hourStart: number; sent: number }[]> {
    const now = this.clock.now();
    const first = Math.floor(now / HOUR) * HOUR - (hours - 1) * HOUR;
    // Buckets starting after countFrom are read: one before the first hour's start takes that hour whole.
    const snapshot = await this.store.quotaSnapshot(credentialId, now, first - 1);
    const slots = Array.from({ length: hours }, (_, i) => ({ hourStart: first + i * HOUR, sent: 0 }));
    for (const bucket of snapshot.buckets) {
      const slot = slots[Math.floor((bucket.bucketStart - first) / HOUR)];
      if (slot) slot.sent += bucket.units;
    }
    return slots;
  }

  async usage(credentialId: number): Promise<Usage> {
    const now = this.clock.now();
    const snapshot = await this.store.quotaSnapshot(credentialId, now, countFrom(this.window, now));
    const remaining = Math.max(0, snapshot.quota - snapshot.used - snapshot.held);
    const oldest = snapshot.buckets[0];
    let suspended: Usage['suspended'] = null;
    if (snapshot.quota === 0) suspended = { reason: 'no_plan', liftsAt: null };
    else if (remaining === 0) suspended = { reason: 'quota', liftsAt: freesAt(this.window, snapshot, 1, now) };
    return {
      sent: snapshot.used,
      held: snapshot.held,
      quota: snapshot.quota,
      remaining,
      suspended,
      nextFreeAt: oldest ? leavesWindowAt(this.window, oldest.bucketStart) : null,
      windowMs: this.window.windowMs,
      buckets: snapshot.buckets,
    };
  }
}
