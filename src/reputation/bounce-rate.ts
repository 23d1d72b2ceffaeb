import type { Clock } from '../shared/clock.js';
import type { CredentialEvent } from '../store/credential-history.js';
import { OUTCOME_BUCKET_MS } from '../store/bounce-rates.js';
import type { Store } from '../store/store.js';
import type { SuspensionService } from './suspensions.js';

export interface BounceSettings {
  windowMs: number;
  /** abuse.max_bounce_rate; undefined: never suspends. */
  maxRate: number | undefined;
  minRecipients: number;
}

/** Where a credential stands over the window: its recipients' outcomes and the notices its mail caused. */
export interface BounceStanding {
  windowMs: number;
  attempted: number;
  failed: number;
  /** failed / attempted; null when nothing was attempted. */
  rate: number | null;
  notices: number;
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/**
 * A credential's bounce rate over the window (abuse.bounce_rate_window, 24 h): of the recipients of its messages
 * accepted in the window that have had a first delivery verdict, the share that failed for good. Above
 * abuse.max_bounce_rate, on at least abuse.min_recipients_for_rate such recipients, the credential is suspended
 * with reason `bounces`: a list full of dead addresses harms the reputation of addresses every customer shares.
 */
export class BounceRateService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly suspensions: SuspensionService,
    readonly settings: BounceSettings,
  ) {}

  async standing(credentialId: number): Promise<BounceStanding> {
    const since = this.clock.now() - this.settings.windowMs;
    const { attempted, failed } = await this.store.bounces.outcomes(credentialId, since);
    const notices = await this.store.bounces.noticesSince(credentialId, since);
    return { windowMs: this.settings.windowMs, attempted, failed, rate: attempted > 0 ? failed / attempted : null, notices };
  }

  /** Suspends the credential if its rate is over the limit; returns the suspension, or null (under it, or already suspended). */
  async enforce(credentialId: number): Promise<CredentialEvent | null> {
    const { maxRate, minRecipients } = this.settings;
    if (maxRate === undefined) return null;
    const s = await this.standing(credentialId);
    if (s.rate === null || s.attempted < minRecipients || s.rate <= maxRate) return null;
    return this.suspensions.suspend(credentialId, 'bounces', {
      note: `bounce rate ${percent(s.rate)} (${s.failed} of ${s.attempted} recipients failed) over abuse.max_bounce_rate ${percent(maxRate)}`,
      detail: { rate: s.rate, failed: s.failed, attempted: s.attempted },
    });
  }

  /** Forgets outcome counts no window reaches any more. */
  prune(): Promise<number> {
    return this.store.bounces.prune(this.clock.now() - this.settings.windowMs - OUTCOME_BUCKET_MS);
  }
}
