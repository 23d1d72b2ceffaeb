import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { ClusterRecords } from '../store/cluster-records.js';

/**
 * The jobs that must run once for the whole service, whatever the number of nodes: blocklist rounds, the
 * subscription lifecycle, the delay-notice scan, the purge of old delivery records, and quota and bounce pruning.
 */
export const SERVICE_JOBS = ['blocklists', 'lifecycle', 'delay-notices', 'purge', 'pruning'] as const;
export type ServiceJob = (typeof SERVICE_JOBS)[number];

export interface JobLeaseOptions {
  records: ClusterRecords;
  /** This node's name: the holder written into job_leases and job_runs. */
  node: string;
  /** node.job_lease_time: the longest a dead node's jobs wait before another node takes them. */
  leaseMs: number;
  /** How often free or expired leases are looked for and held ones renewed: at most a sixth of leaseMs. */
  tryEveryMs: number;
  /** False without the `jobs` role: the node never takes a lease, so it never runs these jobs. */
  takesLeases: boolean;
  /**
   * Real time, not the relay's business clock: leases are measured between processes, and a test's manual clock
   * jumping a month ahead must not make a node think its lease ran out.
   */
  clock: Clock;
  logger: Logger;
}

/**
 * Holds this node's job leases. Each job's code keeps its own timer and asks `run(job, work)`, which runs the work
 * only while this node holds the job's lease with a quarter of the lease time left, and records the run
 * (job_runs). The expiry written is two thirds of the lease time ahead and is renewed once less than half the
 * lease time is left, at every try (a sixth at most): a live holder always keeps more than a third, and renewals
 * go on during a run, so the lease never ends under a run unless the store cannot be written for that long. A
 * node that dies stops renewing: its jobs are free two thirds of the lease time after its last renewal and taken
 * at another node's next try, within the lease time of its death. A stopping node lets its runs finish and
 * deletes its leases, so another node takes them on its next try.
 */
export class JobLeases {
  private readonly jobs = new Set<ServiceJob>();
  /** Jobs held, with the expiry this node wrote. */
  private readonly expiry = new Map<ServiceJob, number>();
  private readonly running = new Set<Promise<unknown>>();
  /** The job runs under way on this node: a job whose last run has not ended is not started again. */
  private readonly busy = new Set<ServiceJob>();
  private timer: NodeJS.Timeout | undefined;
  private trying: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly options: JobLeaseOptions) {}

  /** A job this node is able to run (a node without delivery cannot scan for delay notices). */
  want(job: ServiceJob): void {
    this.jobs.add(job);
  }

  /** Takes what is free now (so a single node holds its jobs before its first runs), then keeps trying. */
  async start(): Promise<void> {
    if (!this.options.takesLeases) return;
    await this.tryAll();
    this.timer = setInterval(() => void this.tryAll(), this.options.tryEveryMs);
    this.timer.unref();
  }

  /** Whether this node holds `job` with enough of its lease left to start a run. */
  holds(job: ServiceJob): boolean {
    const expiresAt = this.expiry.get(job);
    return !this.stopping && expiresAt !== undefined && expiresAt - this.options.clock.now() > this.options.leaseMs / 4;
  }

  /** The jobs held now. */
  held(): ServiceJob[] {
    return [...this.expiry.keys()].filter((job) => this.holds(job));
  }

  /** Runs `work` if this node holds `job`, recording the run; undefined when another node has the job. */
  async run<T>(job: ServiceJob, work: () => Promise<T>): Promise<T | undefined> {
    // A timer can fire while the previous run of the same job is still going (a slow store): that run is the job's.
    if (!this.holds(job) || this.busy.has(job)) return undefined;
    this.busy.add(job);
    const { records, node, clock } = this.options;
    const runWork = (async () => {
      const id = await records.runStarted(job, node, clock.now());
      try {
        return await work();
      } finally {
        await records.runEnded(id, clock.now()).catch((error: Error) => {
          this.options.logger.warn({ event: 'job_run_record_failed', job, error: error.message }, 'could not record the end of a job run');
        });
      }
    })();
    this.running.add(runWork);
    try {
      return await runWork;
    } finally {
      this.running.delete(runWork);
      this.busy.delete(job);
    }
  }

  private tryAll(): Promise<void> {
    this.trying ??= (async () => {
      for (const job of this.jobs) {
        if (this.stopping) return;
        await this.tryOne(job);
      }
    })().finally(() => (this.trying = undefined));
    return this.trying;
  }

  private async tryOne(job: ServiceJob): Promise<void> {
    const { records, node, leaseMs, clock, logger } = this.options;
    const now = clock.now();
    const held = this.expiry.get(job);
    if (held !== undefined && held - now >= leaseMs / 2) return;
    const expiresAt = now + Math.floor((leaseMs * 2) / 3);
    let taken: boolean;
    try {
      taken = await records.takeLease(job, node, now, expiresAt);
    } catch (error) {
      logger.warn({ event: 'job_lease_failed', job, error: (error as Error).message }, 'could not take or renew a job lease; trying again');
      return;
    }
    if (this.stopping) return;
    if (taken) {
      if (held === undefined) logger.info({ event: 'job_lease_taken', job, node }, `this node now runs the ${job} job`);
      this.expiry.set(job, expiresAt);
    } else if (held !== undefined) {
      logger.warn({ event: 'job_lease_lost', job, node }, `another node took the ${job} job over`);
      this.expiry.delete(job);
    }
  }

  /** No new runs; the runs under way end; the leases are deleted so another node takes them at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.trying;
    await Promise.allSettled([...this.running]);
    const held = [...this.expiry.keys()];
    this.expiry.clear();
    await Promise.all(
      held.map((job) =>
        this.options.records.releaseLease(job, this.options.node).catch((error: Error) => {
          this.options.logger.warn({ event: 'job_lease_release_failed', job, error: error.message }, 'could not give a job lease up; it ends with its lease time');
        }),
      ),
    );
  }
}
