import { z } from 'zod';
import { isSuspensionReason, liftedByStaff } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import { describeWindow } from '../../shared/time-format.js';
import type { Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, visibleCredential } from './scope.js';

export const usageSchema = z.object({
  username: z.string(),
  /** The sliding window the quota counts over, in words ("24 hours") and in milliseconds. */
  window: z.string(),
  window_ms: z.number().int(),
  /** Recipients accepted within the window. */
  sent: z.number().int(),
  /** Recipients of transactions still in progress (reserved, not yet committed). */
  in_progress: z.number().int(),
  quota: z.number().int(),
  remaining: z.number().int(),
  /** When the oldest unit still in the window leaves it (one more can then be sent), or null if none is in it. */
  next_free_at: isoSchema.nullable(),
  /** Why sending is stopped now, or null. `lifts_at`: when it ends by itself (quota); null when staff decide. */
  suspended: z
    .object({
      reason: z.string(),
      since: isoSchema.nullable(),
      lifts_at: isoSchema.nullable(),
      /** time: it lifts by itself at lifts_at (quota); staff: a reinstatement lifts it; plan: a plan must be added. */
      lifted_by: z.enum(['time', 'staff', 'plan']),
    })
    .nullable(),
  /** Recipients per clock hour over the last 24 hours, oldest first; the last hour is the current one. */
  hourly: z.array(z.object({ hour_start: isoSchema, sent: z.number().int() })),
});
export type UsageView = z.infer<typeof usageSchema>;

/** What a credential sent against its quota, what remains, when the next unit frees, and why it is stopped if it is. */
export async function credentialUsage(services: Services, viewer: Viewer, username: string): Promise<UsageView> {
  const c = await visibleCredential(services, viewer, username);
  const [u, hourly] = await Promise.all([services.quota.usage(c.id), services.quota.sentByHour(c.id, 24)]);
  let suspended: UsageView['suspended'] = null;
  if (!c.enabled) suspended = { reason: 'disabled', since: null, lifts_at: null, lifted_by: 'staff' };
  else if (c.holdReason) {
    const byStaff = !isSuspensionReason(c.holdReason) || liftedByStaff(c.holdReason);
    suspended = { reason: c.holdReason, since: iso(c.holdSince), lifts_at: null, lifted_by: byStaff ? 'staff' : 'time' };
  } else if (u.suspended) {
    suspended = {
      reason: u.suspended.reason,
      since: null,
      lifts_at: iso(u.suspended.liftsAt),
      lifted_by: u.suspended.reason === 'quota' ? 'time' : 'plan',
    };
  }
  return {
    username: c.username,
    window: describeWindow(u.windowMs),
    window_ms: u.windowMs,
    sent: u.sent,
    in_progress: u.held,
    quota: u.quota,
    remaining: u.remaining,
    next_free_at: iso(u.nextFreeAt),
    suspended,
    hourly: hourly.map((h) => ({ hour_start: isoAt(h.hourStart), sent: h.sent })),
  };
}
