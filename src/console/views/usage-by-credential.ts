import type { Usage } from '../../quota/quota-service.js';
import { isSuspensionReason, liftedByStaff } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import type { Credential, Plan, UsageBucket } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { visibleCredentials } from './own-credentials.js';

/**
 * Why a credential cannot send now, as its customer is told: which reason, since when, and what happens next
 * (`liftsAt` for a quota that frees by itself; null when staff must act).
 */
export interface Suspension {
  reason: string;
  since: number | null;
  /** When sending resumes by itself; null when it does not (support must act). */
  liftsAt: number | null;
  automatic: boolean;
  /** What staff wrote when suspending (shown to the customer: the CLI asks for it with that in mind). */
  note: string | null;
}

export interface CredentialUsage {
  credential: Credential;
  usage: Usage;
  /** Units sent in each of the window's 24 slices, oldest first (the last one ends now). */
  byHour: { start: number; units: number }[];
  plans: (Plan & { state: 'future' | 'active' | 'ended' })[];
  suspension: Suspension | null;
}

const SLICES = 24;

/** The window's buckets summed into 24 equal slices ending now: an hour each for the default 24-hour window. */
export function unitsBySlice(buckets: readonly UsageBucket[], windowMs: number, now: number): { start: number; units: number }[] {
  const slice = windowMs / SLICES;
  const first = now - windowMs;
  const slices = Array.from({ length: SLICES }, (_, i) => ({ start: first + i * slice, units: 0 }));
  for (const b of buckets) {
    const i = Math.floor((b.bucketStart - first) / slice);
    // A bucket that started just before the window's start still counts (the window keeps it a bucket longer).
    const target = slices[Math.min(SLICES - 1, Math.max(0, i))];
    if (target) target.units += b.units;
  }
  return slices;
}

/** The start of the bucket in which the units in the window first reached the quota: when sending stopped. */
function quotaReachedAt(buckets: readonly UsageBucket[], quota: number): number | null {
  let sum = 0;
  for (const b of buckets) {
    sum += b.units;
    if (sum >= quota) return b.bucketStart;
  }
  return null;
}

async function suspensionOf(services: Services, credential: Credential, usage: Usage, plans: readonly Plan[]): Promise<Suspension | null> {
  if (!credential.enabled) {
    return { reason: 'disabled', since: credential.updatedAt, liftsAt: null, automatic: false, note: null };
  }
  if (credential.holdReason) {
    const reason = credential.holdReason;
    const automatic = isSuspensionReason(reason) && !liftedByStaff(reason);
    const history = await services.suspensions.history(credential.id);
    const event = history.filter((e) => e.kind === 'suspended' && e.reason === reason).pop();
    return {
      reason,
      since: credential.holdSince,
      liftsAt: automatic ? (usage.suspended?.liftsAt ?? null) : null,
      automatic,
      note: event?.note ?? null,
    };
  }
  if (usage.suspended?.reason === 'quota') {
    return {
      reason: 'quota',
      since: quotaReachedAt(usage.buckets, usage.quota) ?? services.clock.now(),
      liftsAt: usage.suspended.liftsAt,
      automatic: usage.suspended.liftsAt !== null,
      note: null,
    };
  }
  if (usage.suspended?.reason === 'no_plan') {
    const now = services.clock.now();
    const ended = plans.filter((p) => p.endsAt <= now).map((p) => p.endsAt);
    return { reason: 'no_plan', since: ended.length ? Math.max(...ended) : credential.createdAt, liftsAt: null, automatic: false, note: null };
  }
  return null;
}

/** For each credential the viewer may see: its 24-hour usage, by hour, its plans and why it cannot send, if so. */
export async function credentialUsages(services: Services, viewer: Viewer): Promise<CredentialUsage[]> {
  const credentials = await visibleCredentials(services, viewer);
  const result: CredentialUsage[] = [];
  for (const credential of credentials) {
    const usage = await services.quota.usage(credential.id);
    const now = services.clock.now();
    const plans = await services.accounts.listPlans(credential.username);
    result.push({
      credential,
      usage,
      byHour: unitsBySlice(usage.buckets, usage.windowMs, now),
      plans: plans.map((p) => ({ ...p, state: now < p.startsAt ? 'future' : now >= p.endsAt ? 'ended' : 'active' })),
      suspension: await suspensionOf(services, credential, usage, plans),
    });
  }
  return result;
}
