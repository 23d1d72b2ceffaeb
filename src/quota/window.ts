import type { QuotaSnapshot } from '../store/records.js';

/**
 * The sliding window as plain arithmetic. Units are counted in buckets of window/1440 (one minute for 24 hours);
 * a unit sent at t lands in the bucket starting at or before t and is counted until bucket start + bucket + window,
 * so it never leaves the window before a full window has passed.
 */
export interface QuotaWindow {
  windowMs: number;
  bucketMs: number;
}

export function quotaWindow(windowMs: number): QuotaWindow {
  return { windowMs, bucketMs: Math.max(1, Math.floor(windowMs / 1440)) };
}

export function bucketOf(w: QuotaWindow, at: number): number {
  return Math.floor(at / w.bucketMs) * w.bucketMs;
}

/** Buckets starting after this instant are still inside the window at `now`. */
export function countFrom(w: QuotaWindow, now: number): number {
  return now - w.windowMs - w.bucketMs;
}

export function leavesWindowAt(w: QuotaWindow, bucketStart: number): number {
  return bucketStart + w.bucketMs + w.windowMs;
}

/**
 * When `units` more could be accepted, if only time passes; null when time alone will never do it (the plans
 * give fewer units than asked). Units held by transactions in progress are counted as if committed now, which
 * is what they become when those transactions end with a message.
 */
export function freesAt(w: QuotaWindow, snapshot: QuotaSnapshot, units: number, now: number): number | null {
  const excess = snapshot.used + snapshot.held + units - snapshot.quota;
  if (excess <= 0) return now;
  if (units > snapshot.quota) return null;
  const buckets = [...snapshot.buckets, { bucketStart: bucketOf(w, now), units: snapshot.held }];
  let freed = 0;
  for (const bucket of buckets) {
    freed += bucket.units;
    if (freed >= excess) return leavesWindowAt(w, bucket.bucketStart);
  }
  return null;
}
