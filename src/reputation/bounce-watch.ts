import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { BounceRateService } from './bounce-rate.js';

/**
 * Checks a credential's bounce rate after its deliveries settle, at most once per interval per credential.
 *
 * Why here rather than in a periodic job over every credential: only a credential whose recipients just got
 * verdicts can have crossed the limit, so the delivery path knows exactly whom to look at, and a relay with
 * thousands of idle credentials does no work for them. A credential settled again within the interval is
 * remembered and checked by the timer when the interval is up, so a last burst of failures is never missed.
 */
export class BounceWatch {
  private readonly lastCheck = new Map<number, number>();
  private readonly dirty = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly rates: BounceRateService,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.checkDirty(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
  }

  /** A delivery of this credential's mail has settled. */
  settled(credentialId: number): void {
    const last = this.lastCheck.get(credentialId);
    if (last !== undefined && this.clock.now() - last < this.intervalMs) {
      this.dirty.add(credentialId);
      return;
    }
    this.check(credentialId);
  }

  private checkDirty(): void {
    // The timer fires once per interval: whatever was held back during it is due now.
    for (const id of this.dirty) this.check(id);
    this.dirty.clear();
  }

  private check(credentialId: number): void {
    this.lastCheck.set(credentialId, this.clock.now());
    // One check at a time: a burst of settles for many credentials must not open a store transaction each at once.
    this.checking = this.checking.then(async () => {
      try {
        const suspension = await this.rates.enforce(credentialId);
        if (suspension) {
          this.logger.warn({ event: 'credential_suspended', credential_id: credentialId, reason: 'bounces', ...suspension.detail }, suspension.note ?? 'suspended for bounces');
        }
      } catch (error) {
        // The next settle of this credential checks again.
        this.lastCheck.delete(credentialId);
        this.logger.warn({ event: 'bounce_check_failed', credential_id: credentialId, error: (error as Error).message }, 'could not check the bounce rate');
      }
    });
  }
}
