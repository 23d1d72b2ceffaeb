import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryObserver, SettledOutcome } from '../delivery/delivery-service.js';
import type { Logger } from '../log/logger.js';
import { SUSPENSION_REASONS } from '../reputation/suspensions.js';
import type { Clock } from '../shared/clock.js';
import type { StoreSnapshot } from '../store/metrics-snapshot.js';
import type { MessageKind } from '../store/records.js';
import { PROXY_REFUSALS, type ProxyRefusal } from '../submission/client-origin.js';
import { rejectedCommand, rejectReason } from '../submission/reject-reasons.js';
import type { Reply } from '../submission/replies.js';
import type { SubmissionObserver } from '../submission/session.js';
import { StoreReadings, type Reading } from './store-readings.js';

export interface RelayMetricsOptions {
  clock: Clock;
  logger: Logger;
  /** The store's gauges (queue, suspensions, listings), read at scrape time. */
  readStore: () => Promise<StoreSnapshot>;
  /** This node's outbound.ips: each gets a listed gauge, 0 until a zone lists it. */
  outboundAddresses: readonly string[];
}

/**
 * Accept to delivered, in seconds: from the first attempt's fraction of a second to a retried week (retry_every
 * 15m, give_up_after 7d), so both a slow receiver and a backlog show.
 */
const LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800];
const MESSAGE_KINDS: readonly MessageKind[] = ['message', 'notice', 'system'];
const OUTCOMES = ['delivered', 'deferred', 'failed'] as const;
const QUEUE_STATES = ['queued', 'deferred', 'held'] as const;
/** Quota is no stored suspension (it is computed from the window): its refusals count as reason="quota" instead. */
const STORED_SUSPENSION_REASONS = SUSPENSION_REASONS.filter((reason) => reason !== 'quota');

/**
 * The Prometheus metrics of one relay, in a registry of its own (never prom-client's global one: two relays can
 * run in one process). Counters are fed by the submission sessions and the delivery service as they go, and cost
 * an increment; the store's gauges are read when scraped, once for all of them (see StoreReadings).
 * README, "Metrics and health checks", lists every name and label.
 */
export class RelayMetrics implements SubmissionObserver, DeliveryObserver {
  readonly registry = new Registry();
  private readonly messagesAccepted: Counter;
  private readonly recipientsAccepted: Counter;
  private readonly rejections: Counter<'command' | 'reason'>;
  private readonly proxyRefusals: Counter<'reason'>;
  private readonly deliveries: Counter<'outcome' | 'kind'>;
  private readonly latency: Histogram;
  private readonly sessionSources = new Map<string, () => number>();
  private readonly jobSource: { all: readonly string[]; held: () => readonly string[] } = { all: [], held: () => [] };
  private readonly storeReadings: StoreReadings;

  constructor(private readonly options: RelayMetricsOptions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.messagesAccepted = new Counter({
      name: 'relais_submission_messages_accepted_total',
      help: 'Messages accepted on the submission ports (250 after DATA: durably queued).',
      registers,
    });
    this.recipientsAccepted = new Counter({
      name: 'relais_submission_recipients_accepted_total',
      help: 'Recipients of the accepted messages (the units counted against quotas).',
      registers,
    });
    this.rejections = new Counter({
      name: 'relais_submission_rejected_total',
      help: 'Refusals on the submission ports, by the command refused (CONNECT, AUTH, MAIL, RCPT, DATA, other) and why.',
      labelNames: ['command', 'reason'],
      registers,
    });
    this.proxyRefusals = new Counter({
      name: 'relais_submission_proxy_refused_total',
      help: 'Connections closed over their PROXY protocol header: untrusted (a header from outside listen.proxy_from), or from a balancer in it, missing, malformed, too_long or timeout.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of PROXY_REFUSALS) this.proxyRefusals.labels({ reason }).inc(0);
    this.deliveries = new Counter({
      name: 'relais_delivery_recipients_total',
      help: "Delivery outcomes of recipients, once durable: delivered, deferred (each retry counts) or failed; kind is the message's (message: customers' mail, notice: delay and failure notices, system: operator alerts).",
      labelNames: ['outcome', 'kind'],
      registers,
    });
    for (const kind of MESSAGE_KINDS) for (const outcome of OUTCOMES) this.deliveries.labels({ outcome, kind }).inc(0);
    this.latency = new Histogram({
      name: 'relais_delivery_latency_seconds',
      help: "Time from a customer message's acceptance to the delivery of each of its recipients.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const sessions = this.sessionSources;
    new Gauge({
      name: 'relais_smtp_sessions_open',
      help: 'SMTP sessions open on this node (submission: the submission, smtps and smtp ports; inbound: listen.inbound).',
      labelNames: ['service'],
      registers,
      collect() {
        for (const [service, count] of sessions) this.labels({ service }).set(count());
      },
    });
    const jobs = this.jobSource;
    new Gauge({
      name: 'relais_job_lease_held',
      help: 'Whether this node holds the lease of each service job (1) or not (0): across the nodes, each job should be held once.',
      labelNames: ['job'],
      registers,
      collect() {
        const held = new Set(jobs.held());
        for (const job of jobs.all) this.labels({ job }).set(held.has(job) ? 1 : 0);
      },
    });
    this.storeReadings = new StoreReadings(options.readStore);
    this.storeGauges(registers);
  }

  /** The service jobs and those whose lease this node holds, read when scraped. */
  countJobs(all: readonly string[], held: () => readonly string[]): void {
    this.jobSource.all = all;
    this.jobSource.held = held;
  }

  /** Sessions of a listener group, counted when scraped. */
  countSessions(service: 'submission' | 'inbound', count: () => number): void {
    this.sessionSources.set(service, count);
  }

  accepted(recipients: number): void {
    this.messagesAccepted.inc();
    this.recipientsAccepted.inc(recipients);
  }

  rejected(command: string, reply: Reply): void {
    this.rejections.labels({ command: rejectedCommand(command), reason: rejectReason(reply) }).inc();
  }

  proxyRefused(reason: ProxyRefusal): void {
    this.proxyRefusals.labels({ reason }).inc();
  }

  settled(outcome: SettledOutcome): void {
    const kind = outcome.kind;
    if (outcome.delivered) this.deliveries.labels({ outcome: 'delivered', kind }).inc(outcome.delivered);
    if (outcome.deferred) this.deliveries.labels({ outcome: 'deferred', kind }).inc(outcome.deferred);
    if (outcome.failed) this.deliveries.labels({ outcome: 'failed', kind }).inc(outcome.failed);
    if (kind === 'message' && outcome.delivered) {
      const seconds = Math.max(0, outcome.at - outcome.acceptedAt) / 1000;
      for (let i = 0; i < outcome.delivered; i++) this.latency.observe(seconds);
    }
  }

  /** The text exposition of every metric, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * The gauges read from the store. Each collect() awaits the same reading; a store that fails or is late leaves
   * them without samples, or NaN for those without labels (never a stale or a reassuring 0), and relais_store_up
   * says why.
   */
  private storeGauges(registers: Registry[]): void {
    const readings = this.storeReadings;
    const read = async (): Promise<StoreSnapshot | null> => {
      const reading: Reading = await readings.get();
      return reading.ok ? reading.snapshot : null;
    };
    const { clock, outboundAddresses, logger } = this.options;
    new Gauge({
      name: 'relais_store_up',
      help: 'Whether the store answered the metrics query of this scrape (1) or not (0: the store gauges are missing or NaN).',
      registers,
      async collect() {
        const reading = await readings.get();
        if (!reading.ok) logger.warn({ event: 'metrics_store_error', error: reading.error }, 'metrics: could not read the queue and reputation gauges from the store');
        this.set(reading.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'relais_queue_recipients',
      help: 'Unfinished recipients in the queue by state: queued (never tried), deferred (to retry), held (credential suspended). The whole store: every node sharing it shows the same.',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const snapshot = await read();
        if (snapshot) for (const state of QUEUE_STATES) this.labels({ state }).set(snapshot.recipients.get(state) ?? 0);
      },
    });
    new Gauge({
      name: 'relais_queue_oldest_pending_age_seconds',
      help: 'Age of the oldest message with recipients still to deliver (queued or deferred; held mail aside), since its acceptance; 0 when none.',
      registers,
      async collect() {
        const snapshot = await read();
        if (!snapshot) return this.set(Number.NaN);
        const oldest = snapshot.oldestPendingAcceptedAt;
        this.set(oldest === null ? 0 : Math.max(0, clock.now() - oldest) / 1000);
      },
    });
    new Gauge({
      name: 'relais_credentials_suspended',
      help: 'Credentials whose sending is suspended, by reason (quota holds are not stored: see relais_submission_rejected_total{reason="quota"}).',
      labelNames: ['reason'],
      registers,
      async collect() {
        this.reset();
        const snapshot = await read();
        if (!snapshot) return;
        for (const reason of STORED_SUSPENSION_REASONS) this.labels({ reason }).set(0);
        for (const [reason, count] of snapshot.suspended) this.labels({ reason }).set(count);
      },
    });
    new Gauge({
      name: 'relais_outbound_addresses_listed',
      help: "How many of this node's outbound addresses (outbound.ips) a blocklist zone (dnsbl.ip_zones) lists now.",
      registers,
      async collect() {
        const snapshot = await read();
        this.set(snapshot ? outboundAddresses.filter((address) => snapshot.listed.has(address)).length : Number.NaN);
      },
    });
    new Gauge({
      name: 'relais_outbound_address_listed',
      help: 'Whether a blocklist zone lists this outbound address now (1) or none does (0), for each of outbound.ips.',
      labelNames: ['address'],
      registers,
      async collect() {
        this.reset();
        const snapshot = await read();
        if (snapshot) for (const address of outboundAddresses) this.labels({ address }).set(snapshot.listed.has(address) ? 1 : 0);
      },
    });
  }
}
