import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { DueRecipient } from '../store/delivery-records.js';
import type { DeliveryQueue } from '../store/delivery-queue.js';

/** One message's recipients at one destination domain: delivered in one SMTP transaction. */
export interface DeliveryJob {
  messageId: string;
  domain: string;
  recipients: DueRecipient[];
}

export interface SchedulerOptions {
  scanIntervalMs: number;
  leaseMs: number;
  claimBatch: number;
  concurrency: number;
  /** Identifies this node's leases. */
  owner: string;
}

/**
 * Picks due recipients from the queue with a lease and runs delivery jobs with bounded concurrency. Leases make
 * it safe for several nodes to share one queue: what a dead node held becomes due again when its lease ends.
 */
export class Scheduler {
  private running = false;
  private active = 0;
  private readonly backlog: DeliveryJob[] = [];
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Recipients of jobs claimed and not yet finished: their leases are renewed while they last. */
  private readonly held = new Set<number>();
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly queue: DeliveryQueue,
    private readonly clock: Clock,
    private readonly options: SchedulerOptions,
    private readonly runJob: (job: DeliveryJob) => Promise<void>,
    private readonly periodic: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // A slow job (long timeouts) must not outlive its lease, or the recipients would be delivered twice.
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const now = this.clock.now();
    await this.queue.renewLeases([...this.held], this.options.owner, now + this.options.leaseMs).catch((error: Error) => {
      this.logger.warn({ event: 'lease_renewal_failed', error: error.message }, 'could not renew delivery leases');
    });
  }

  /** New mail or an operator's retry: look at the queue now rather than at the next scan. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /**
   * Stops taking work; jobs under way get `graceMs` to finish, then `interrupt` (closing their connections)
   * makes them end now. What they did not settle stays leased and is retried when the lease ends.
   */
  async stop(graceMs = 30_000, interrupt: () => void = () => undefined): Promise<void> {
    this.running = false;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.wake();
    await this.loop;
    const finished = Promise.allSettled([...this.inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), graceMs)));
    if ((await Promise.race([finished, graceOver])) === 'grace') {
      this.logger.warn({ event: 'delivery_interrupted', jobs: this.inFlight.size }, 'stop grace over: interrupting deliveries in progress');
      interrupt();
      await finished;
    }
    clearTimeout(timer);
    const unstarted = this.backlog.splice(0).flatMap((job) => job.recipients.map((r) => r.id));
    for (const id of unstarted) this.held.delete(id);
    await this.queue.release(unstarted, this.clock.now(), this.options.owner).catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.fill();
        await this.periodic();
      } catch (error) {
        this.logger.error({ event: 'scheduler_error', error: (error as Error).message }, 'scheduler pass failed; retrying');
      }
      if (!this.running) break;
      if (this.wakeRequested) {
        // Woken while busy: go round again at once instead of sleeping through it.
        this.wakeRequested = false;
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.scanIntervalMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
      this.wakeRequested = false;
    }
  }

  private async fill(): Promise<void> {
    while (this.running && this.backlog.length < this.options.concurrency) {
      const now = this.clock.now();
      const claimed = await this.queue.claimDue(now, this.options.claimBatch, this.options.owner, now + this.options.leaseMs);
      if (claimed.length === 0) break;
      for (const r of claimed) this.held.add(r.id);
      this.backlog.push(...groupJobs(claimed));
      this.dispatch();
      if (claimed.length < this.options.claimBatch) break;
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (this.running && this.active < this.options.concurrency && this.backlog.length > 0) {
      const job = this.backlog.shift() as DeliveryJob;
      this.active++;
      const work = this.runJob(job)
        .catch((error: Error) => {
          this.logger.error({ event: 'delivery_error', message_id: job.messageId, domain: job.domain, error: error.message }, 'delivery job failed');
        })
        .finally(() => {
          for (const r of job.recipients) this.held.delete(r.id);
          this.active--;
          this.inFlight.delete(work);
          this.dispatch();
          // A free slot may take more of the queue at once.
          if (this.backlog.length === 0) this.wake();
        });
      this.inFlight.add(work);
    }
  }
}

export function groupJobs(recipients: readonly DueRecipient[]): DeliveryJob[] {
  const jobs = new Map<string, DeliveryJob>();
  for (const r of recipients) {
    const key = `${r.messageId}\u0000${r.domain}`;
    let job = jobs.get(key);
    if (!job) jobs.set(key, (job = { messageId: r.messageId, domain: r.domain, recipients: [] }));
    job.recipients.push(r);
  }
  return [...jobs.values()];
}
