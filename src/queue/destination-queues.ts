import type { DueRecipient } from '../store/delivery-records.js';

/** One message's recipients at one destination domain: delivered in one SMTP transaction. */
export interface DeliveryJob {
  messageId: string;
  domain: string;
  /** The submitting credential (null for the relay's own notices): the unit of fairness within a destination. */
  credentialId: number | null;
  recipients: DueRecipient[];
}

export interface HeldPair {
  domain: string;
  credentialId: number | null;
}

class CredentialLane {
  readonly jobs: DeliveryJob[] = [];
  recipients = 0;
  constructor(readonly credentialId: number | null) {}
}

/**
 * One destination's ready jobs, a lane per credential taken in turns: a credential with a large backlog gets
 * one transaction per turn like the others, so a single message of another customer waits for at most one
 * job per credential ahead of it, not for the whole backlog.
 */
class Destination {
  running = 0;
  ready = 0;
  /** Lanes with jobs, in turn order: the first is next. */
  readonly lanes = new Map<number | null, CredentialLane>();
  constructor(readonly domain: string) {}

  add(job: DeliveryJob): void {
    let lane = this.lanes.get(job.credentialId);
    if (!lane) this.lanes.set(job.credentialId, (lane = new CredentialLane(job.credentialId)));
    lane.jobs.push(job);
    lane.recipients += job.recipients.length;
    this.ready++;
  }

  take(): DeliveryJob | undefined {
    for (const [key, lane] of this.lanes) {
      const job = lane.jobs.shift();
      this.lanes.delete(key);
      if (!job) continue;
      lane.recipients -= job.recipients.length;
      // To the back of the turn order, if it has more.
      if (lane.jobs.length > 0) this.lanes.set(key, lane);
      this.ready--;
      return job;
    }
    return undefined;
  }
}

/**
 * Per-destination ready queues, as Postfix's qmgr and KumoMTA keep them: each destination runs at most
 * `perDestination` jobs at once, so a slow or dead destination occupies only its own share of the delivery
 * slots while the others go on. Destinations with work and a free slot take turns.
 */
export class DestinationQueues {
  private readonly destinations = new Map<string, Destination>();
  /** Destinations with a ready job and a free slot, in turn order. */
  private readonly runnable = new Set<Destination>();
  private waitingJobs = 0;

  constructor(private readonly perDestination: (domain: string) => number) {}

  add(job: DeliveryJob): void {
    const d = this.destination(job.domain);
    d.add(job);
    this.waitingJobs++;
    this.refresh(d);
  }

  /** The next job to run, taking destinations in turn; undefined when every destination with work is at its limit. */
  next(): DeliveryJob | undefined {
    for (const d of this.runnable) {
      this.runnable.delete(d);
      const job = d.take();
      if (!job) continue;
      this.waitingJobs--;
      d.running++;
      this.refresh(d);
      return job;
    }
    return undefined;
  }

  /** A job handed out by next() has ended. */
  done(job: DeliveryJob): void {
    const d = this.destinations.get(job.domain);
    if (!d) return;
    d.running = Math.max(0, d.running - 1);
    this.refresh(d);
  }

  /** Jobs waiting, runnable or not. */
  get waiting(): number {
    return this.waitingJobs;
  }

  /** Jobs that could start now if there were delivery slots. */
  runnableJobs(): number {
    let n = 0;
    for (const d of this.runnable) n += Math.min(d.ready, Math.max(0, this.perDestination(d.domain) - d.running));
    return n;
  }

  /** (destination, credential) lanes holding at least `recipients` recipients: claims leave their rows in the queue. */
  fullLanes(recipients: number): HeldPair[] {
    const full: HeldPair[] = [];
    for (const d of this.destinations.values()) {
      for (const lane of d.lanes.values()) if (lane.recipients >= recipients) full.push({ domain: d.domain, credentialId: lane.credentialId });
    }
    return full;
  }

  laneRecipients(domain: string, credentialId: number | null): number {
    return this.destinations.get(domain)?.lanes.get(credentialId)?.recipients ?? 0;
  }

  /** Takes every waiting job out (the node is stopping). */
  drain(): DeliveryJob[] {
    const jobs: DeliveryJob[] = [];
    for (const d of this.destinations.values()) {
      for (let job = d.take(); job; job = d.take()) jobs.push(job);
      this.refresh(d);
    }
    this.waitingJobs = 0;
    this.runnable.clear();
    return jobs;
  }

  private destination(domain: string): Destination {
    let d = this.destinations.get(domain);
    if (!d) this.destinations.set(domain, (d = new Destination(domain)));
    return d;
  }

  private refresh(d: Destination): void {
    if (d.ready > 0 && d.running < this.perDestination(d.domain)) {
      if (!this.runnable.has(d)) this.runnable.add(d);
    } else this.runnable.delete(d);
    // Forget idle destinations, so the map holds only those with work.
    if (d.ready === 0 && d.running === 0) this.destinations.delete(d.domain);
  }
}

export function groupJobs(recipients: readonly DueRecipient[]): DeliveryJob[] {
  const jobs = new Map<string, DeliveryJob>();
  for (const r of recipients) {
    const key = `${r.messageId}\u0000${r.domain}`;
    let job = jobs.get(key);
    if (!job) jobs.set(key, (job = { messageId: r.messageId, domain: r.domain, credentialId: r.credentialId, recipients: [] }));
    job.recipients.push(r);
  }
  return [...jobs.values()];
}
