import type { RecipientUpdate } from '../store/delivery-records.js';

/**
 * Turns a delivery verdict into the recipient's next state, with the schedule kept on the message: a deferral
 * is retried every retryEvery until giveUpAt; the attempt at giveUpAt is the last, and a failure after it is
 * final. Pure, so a 7-day schedule is tested in microseconds.
 */
export interface Schedule {
  retryEvery: number;
  giveUpAt: number;
}

export function nextState(
  verdict: 'delivered' | 'defer' | 'fail',
  schedule: Schedule,
  now: number,
): { state: RecipientUpdate['state']; nextAttemptAt: number; expired: boolean } {
  if (verdict === 'delivered') return { state: 'delivered', nextAttemptAt: now, expired: false };
  if (verdict === 'fail') return { state: 'failed', nextAttemptAt: now, expired: false };
  if (now >= schedule.giveUpAt) return { state: 'failed', nextAttemptAt: now, expired: true };
  return { state: 'deferred', nextAttemptAt: Math.min(now + schedule.retryEvery, schedule.giveUpAt), expired: false };
}
