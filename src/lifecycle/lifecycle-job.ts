import type { Logger } from '../log/logger.js';
import type { JobGate } from '../reputation/blocklist-schedule.js';
import type { SubscriptionService } from './subscription-service.js';

/**
 * Runs the subscription lifecycle every lifecycle.interval and once at start. Runs never overlap; a failed run is
 * logged and the next one tries again (each step is idempotent, so nothing is done twice).
 */
export class LifecycleJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** Several nodes: only the holder of the lifecycle job lease runs it. */
    private readonly gate: JobGate = (work) => work(),
  ) {}

  start(): void {
    void this.runNow();
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
  }

  /** One run now, or the one in progress. */
  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.gate(async () => {
      const outcome = await this.subscriptions.runLifecycle();
      if (outcome.orders || outcome.reminders || outcome.renewed || outcome.expired) {
        this.logger.info({ event: 'lifecycle', ...outcome }, 'subscription lifecycle');
      }
    })
      .then(() => undefined)
      .catch((error: Error) => this.logger.error({ event: 'lifecycle_failed', error: error.message }, 'subscription lifecycle run failed; retried next interval'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
