import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { DeliveryQueue } from '../store/delivery-queue.js';
import { DestinationQueues, groupJobs, type DeliveryJob } from './destination-queues.js';

export type { DeliveryJob } from './destination-queues.js';
export { groupJobs } from './destination-queues.js';

/** A job that has handed its connection back; `settled` resolves once its outcome is durable. */
export interface JobRun {
  settled: Promise<void>;
}

export interface SchedulerOptions {
  scanIntervalMs: number;
  leaseMs: number;
  claimBatch: number;
  concurrency: number;
  /** Jobs running at once for one destination domain: a fixed number, or the delivery side's learnt limit. */
  perDestination: number | ((domain: string) => number);
  /**
   * Most recipients held in memory, claimed and waiting or running; their leases are renewed while held.
   * Default 50 claim batches.
   */
  maxHeld?: number;
  /** Identifies this node's leases. */
  owner: string;
}

/**
 * Picks due recipients from the queue with a lease and runs delivery jobs with bounded concurrency, from one
 * ready queue per destination (see DestinationQueues). Leases make it safe for several nodes to share one queue:
 * what a dead node held becomes due again when its lease ends.
 *
 * Claims skip the (destination, credential) lanes that already hold a claim batch, so a destination that
 * cannot keep up, or a credential with a large backlog, does not fill memory with its recipients while other
 * destinations' mail is due: their rows stay in the queue, unleased, until the lane drains.
 */
export class Scheduler {
  private running = false;
  private active = 0;
  private readonly queues: DestinationQueues;
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Recipients of jobs claimed and not yet finished: their leases are renewed while they last. */
  private readonly held = new Set<number>();
  /** Held recipients a claim returned again: given back when their job lets go of them. */
  private readonly reclaimed = new Set<number>();
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly maxHeld: number;
  /** The last claim filled its batch: more is due than was taken. */
  private moreDue = false;
  /** Lanes the last claim left out because they were full: once one drains, it needs a claim of its own. */
  private skipped = new Set<string>();
  /**
   * A claim that skips lanes walks past their rows, so it costs in proportion to their backlog: such claims
   * are spaced so they take at most a tenth of the time (the next one no sooner than ten times the last one's
   * duration, at least 50 ms later). A wake is set for when the next one is allowed.
   */
  private nextSkipClaimAt = 0;
  private skipClaimTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly queue: DeliveryQueue,
    private readonly clock: Clock,
    private readonly options: SchedulerOptions,
    private readonly runJob: (job: DeliveryJob) => Promise<JobRun | void>,
    private readonly periodic: () => Promise<void>,
    private readonly logger: Logger,
  ) {
    const perDestination = options.perDestination;
    this.queues = new DestinationQueues(typeof perDestination === 'number' ? () => perDestination : perDestination);
    this.maxHeld = options.maxHeld ?? options.claimBatch * 50;
  }

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
    const ids = [...this.held];
    // In slices: thousands of waiting recipients would exceed a statement's parameter limit.
    for (let i = 0; i < ids.length; i += 500) {
      await this.queue.renewLeases(ids.slice(i, i + 500), this.options.owner, now + this.options.leaseMs).catch((error: Error) => {
        this.logger.warn({ event: 'lease_renewal_failed', error: error.message }, 'could not renew delivery leases');
      });
    }
  }

  /** New mail or an operator's retry: look at the queue now rather than at the next scan. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /** Jobs waiting in the ready queues and running: for tests and metrics. */
  stats(): { waiting: number; running: number; held: number } {
    return { waiting: this.queues.waiting, running: this.active, held: this.held.size };
  }

  /**
   * Stops taking work; jobs under way get `graceMs` to finish, then `interrupt` (closing their connections)
   * makes them end now. What they did not settle stays leased and is retried when the lease ends; what never
   * started is given back at once.
   */
  async stop(graceMs = 30_000, interrupt: () => void = () => undefined): Promise<void> {
    this.running = false;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.skipClaimTimer) clearTimeout(this.skipClaimTimer);
    this.wake();
    const unstarted = this.queues.drain().flatMap((job) => job.recipients.map((r) => r.id));
    for (const id of unstarted) this.held.delete(id);
    const released = this.release(unstarted);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), graceMs)));
    // The scheduler's own pass (a claim, delay notices) counts against the grace too.
    const finished = (async () => {
      await this.loop;
      await Promise.allSettled([...this.inFlight]);
    })();
    if ((await Promise.race([finished, graceOver])) === 'grace') {
      this.logger.warn({ event: 'delivery_interrupted', jobs: this.inFlight.size }, 'stop grace over: interrupting deliveries in progress');
      interrupt();
      await finished;
    }
    clearTimeout(timer);
    await released;
    // Claimed by a pass that ended during the stop.
    const late = this.queues.drain().flatMap((job) => job.recipients.map((r) => r.id));
    for (const id of late) this.held.delete(id);
    await this.release(late);
    // Every job has ended: nothing this process holds is being delivered, so none of it waits for its lease.
    const freed = await this.queue.releaseOwner(this.options.owner, this.clock.now()).catch((error: Error) => {
      this.logger.warn({ event: 'lease_release_failed', error: error.message }, 'could not give back delivery leases at stop; they run out after queue.lease_time');
      return 0;
    });
    if (freed > 0) this.logger.info({ event: 'leases_released', when: 'stop', recipients: freed }, 'recipients still held at the stop are due again');
  }

  /**
   * Gives back the recipients of a job that failed for want of the store, as soon as the store takes it: tried
   * every scan interval while this scheduler runs. After a stop the lease ends by itself.
   */
  private async giveBack(ids: readonly number[]): Promise<void> {
    while (this.running) {
      try {
        for (let i = 0; i < ids.length; i += 500) await this.queue.release(ids.slice(i, i + 500), this.clock.now(), this.options.owner);
        return;
      } catch {
        await new Promise<void>((resolve) => setTimeout(resolve, this.options.scanIntervalMs).unref());
      }
    }
  }

  /** Gives recipients back, due at once; in slices, as renewals. */
  private async release(ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) await this.queue.release(ids.slice(i, i + 500), this.clock.now(), this.options.owner).catch(() => undefined);
  }

  private async run(): Promise<void> {
    // An unreachable store fails every pass: said once when it starts, and once when a pass succeeds again.
    let failingSince: number | null = null;
    let failedPasses = 0;
    while (this.running) {
      try {
        await this.fill();
        await this.periodic();
        if (failingSince !== null) {
          this.logger.warn({ event: 'scheduler_resumed', failed_passes: failedPasses, down_ms: this.clock.now() - failingSince }, 'scheduler passes succeed again');
          failingSince = null;
          failedPasses = 0;
        }
      } catch (error) {
        failedPasses++;
        if (failingSince === null) {
          failingSince = this.clock.now();
          this.logger.error({ event: 'scheduler_error', error: (error as Error).message }, 'scheduler pass failed; retrying every scan interval');
        }
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

  /** Claims while the ready queues have less startable work than there are delivery slots. */
  private async fill(): Promise<void> {
    while (this.running && this.held.size < this.maxHeld && this.queues.runnableJobs() < this.options.concurrency) {
      const now = this.clock.now();
      const skip = this.queues.fullLanes(this.options.claimBatch);
      this.skipped = new Set(skip.map((l) => laneKey(l.domain, l.credentialId)));
      const began = performance.now();
      if (skip.length > 0 && began < this.nextSkipClaimAt) {
        this.wakeAt(this.nextSkipClaimAt - began);
        break;
      }
      const claimed = await this.queue.claimDue(now, this.options.claimBatch, this.options.owner, now + this.options.leaseMs, skip);
      if (skip.length > 0) this.nextSkipClaimAt = performance.now() + Math.max(50, 10 * (performance.now() - began));
      this.moreDue = claimed.length >= this.options.claimBatch;
      if (claimed.length === 0) break;
      if (!this.running) {
        await this.release(claimed.map((r) => r.id));
        break;
      }
      // A recipient this node still holds can come back: its lease ran out while the store was unreachable
      // (renewals failed), or its job settled it as due a moment ago. Its job is under way or its outcome is
      // being written, so it is not sent again now; the job gives it back when it lets go (see dispatch).
      const fresh: typeof claimed = [];
      for (const r of claimed) {
        if (this.held.has(r.id)) this.reclaimed.add(r.id);
        else fresh.push(r);
      }
      for (const r of fresh) this.held.add(r.id);
      for (const job of groupJobs(fresh)) this.queues.add(job);
      this.dispatch();
      if (claimed.length < this.options.claimBatch) break;
    }
    this.dispatch();
  }

  private wakeAt(delayMs: number): void {
    if (this.skipClaimTimer) return;
    this.skipClaimTimer = setTimeout(() => {
      this.skipClaimTimer = null;
      if (this.running) this.wake();
    }, Math.ceil(delayMs));
    this.skipClaimTimer.unref();
  }

  private dispatch(): void {
    while (this.running && this.active < this.options.concurrency) {
      const job = this.queues.next();
      if (!job) break;
      this.active++;
      let slotFreed = false;
      // The delivery slot (and the destination's) is free once the connection is handed back; the recipients
      // stay held, their leases renewed, until the outcome is durable.
      const freeSlot = () => {
        if (slotFreed) return;
        slotFreed = true;
        this.active--;
        this.queues.done(job);
        this.dispatch();
      };
      const fail = (error: Error) => {
        this.logger.error({ event: 'delivery_error', message_id: job.messageId, domain: job.domain, error: error.message }, 'delivery job failed');
      };
      let handedBack = false;
      const work = this.runJob(job)
        .then(async (run) => {
          handedBack = true;
          freeSlot();
          if (run) await run.settled;
        })
        .catch(async (error: Error) => {
          fail(error);
          // The job failed before it had an outcome (the store did not answer the read of the message): nothing
          // was sent, so its recipients are given back, due now, rather than left waiting for their lease.
          if (!handedBack) await this.giveBack(job.recipients.map((r) => r.id));
        })
        .finally(() => {
          for (const r of job.recipients) this.held.delete(r.id);
          // Claimed again while this job held them: leased to this node with no job to run them. What the job
          // settled is no longer leased (no-op); what it left pending is due at once.
          const again = job.recipients.filter((r) => this.reclaimed.delete(r.id)).map((r) => r.id);
          if (again.length > 0) void this.release(again).then(() => this.wake());
          freeSlot();
          this.inFlight.delete(work);
          // A free slot may take more of the queue at once; when nothing more was due, new mail wakes the loop.
          const drained = this.skipped.has(laneKey(job.domain, job.credentialId)) && this.queues.laneRecipients(job.domain, job.credentialId) < this.options.claimBatch / 2;
          if ((this.moreDue || drained) && this.queues.runnableJobs() < this.options.concurrency) this.wake();
        });
      this.inFlight.add(work);
    }
  }
}

function laneKey(domain: string, credentialId: number | null): string {
  return `${domain}\u0000${credentialId ?? ''}`;
}
