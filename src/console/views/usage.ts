import { z } from 'zod';
import { isSuspensionReason, liftedByStaff } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import { describeWindow } from '../../shared/time-format.js';
import type { Viewer } from '../viewer.js';
import { iso, isoAt, isoSchema, visibleCredential } from './scope.js';

export const usageSchema = z.object({
  username: z.string(),
  window: z.string().describe('The sliding window the quota counts over, in words ("24 hours") and in milliseconds.'),
  window_ms: z.number().int(),
  sent: z.number().int().describe('Recipients accepted within the window.'),
  in_progress: z.number().int().describe('Recipients of transactions still in progress (reserved, not yet committed).'),
  quota: z.number().int(),
  remaining: z.number().int(),
  next_free_at: isoSchema.nullable().describe('When the oldest unit still in the window leaves it (one more can then be sent), or null if none is in it.'),
  suspended: z
    .object({
      reason: z.string(),
      since: isoSchema.nullable(),
      lifts_at: isoSchema.nullable(),
      lifted_by: z.enum(['time', 'staff', 'plan']).describe('time: it lifts by itself at lifts_at (quota); staff: a reinstatement lifts it; plan: a plan must be added.'),
    })
    .nullable()
    .describe('Why sending is stopped now (quota, no_plan, disabled, or a suspension reason such as complaint), since when, and when it lifts; null while it may send.'),
  hourly: z.array(z.object({ hour_start: isoSchema, sent: z.number().int() })).describe('Recipients per clock hour over the last 24 hours, oldest first; the last hour is the current one.'),
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
