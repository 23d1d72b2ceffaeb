import type { RelaisConfig } from '../config/schema.js';
import type { NoticeRecipient } from '../dsn/delivery-report.js';
import { noticeMessage, pendingAsNoticed } from '../dsn/notice-builder.js';
import { ownMailSettings, type OwnMailSettings } from '../queue/own-mail.js';
import { wantsNotice } from '../dsn/notice-policy.js';
import type { Logger } from '../log/logger.js';
import { nextState } from '../queue/retry-schedule.js';
import type { DeliveryJob, JobRun } from '../queue/scheduler.js';
import type { Clock } from '../shared/clock.js';
import type { AttemptRecord, RecipientUpdate } from '../store/delivery-records.js';
import type { MessageKind, NewMessage } from '../store/records.js';
import type { Store } from '../store/store.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import { attemptView } from './attempt-view.js';
import { ConnectionPool } from './connection-pool.js';
import { deliverJob, type JobDeps } from './deliver-job.js';
import { DestinationConcurrency } from './destination-concurrency.js';
import { DnsLookup } from './dns-lookup.js';
import { IpPool } from './ip-pool.js';
import { PoolRestrictions } from './pool-restrictions.js';
import { DEFAULT_IP_BLOCK_PATTERNS, replyPatterns } from './reply-classifier.js';

/** Recipients of one message whose outcome of one job is now durable (the metrics count them). */
export interface SettledOutcome {
  kind: MessageKind;
  /** When the message was accepted (queued), for the latency of the delivered ones. */
  acceptedAt: number;
  at: number;
  delivered: number;
  deferred: number;
  failed: number;
}

/** Told of every settled outcome; called once per job, after its commit, so an observer only counts. */
export interface DeliveryObserver {
  settled(outcome: SettledOutcome): void;
}

/**
 * Runs delivery jobs end to end: the attempt, the recipients' next state on the message's own schedule, the
 * failure notices, the delay notices, and the avoidance of refused source addresses, all written back durably.
 */
export class DeliveryService {
  readonly ips: IpPool;
  /** Jobs at once per destination domain, learnt from its answers: the scheduler asks it (perDestination). */
  readonly concurrency: DestinationConcurrency;
  /** Blocklisted addresses out of rotation, credentials pinned to part of the pool: as the store says. */
  readonly restrictions: PoolRestrictions;
  private readonly connections: ConnectionPool;
  private readonly deps: JobDeps;
  private readonly notices: OwnMailSettings;
  private lastAvoidanceSync = 0;
  private lastPurge = 0;
  /** Real time (performance.now) of the last delay-notice scan: at most one per queue.scan_interval. */
  private lastDelayScan = -Infinity;
  /**
   * Runs a service job (the delay-notice scan, the purge) if this node is the one to run it now: with several
   * nodes, the holder of its job lease. A relay sets it; alone, a node always is.
   */
  serviceJob: (job: 'delay-notices' | 'purge', work: () => Promise<void>) => Promise<unknown> = (_job, work) => work();
  private readonly settles: SettleBatcher;
  /**
   * close() was called: the node is stopping and what it cuts is not the destination's doing. Deferrals then
   * are due at once, for another node (or this one's next run), not after the retry interval.
   */
  private stopping = false;
  /** Called once a job's outcomes for a credential's message are durable (the bounce-rate watch listens). */
  onSettled: (credentialId: number) => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly config: RelaisConfig,
    private readonly logger: Logger,
    private readonly observer?: DeliveryObserver,
  ) {
    const o = config.outbound;
    this.ips = IpPool.fromConfig(o.ips, config.hostname);
    this.concurrency = new DestinationConcurrency(o.initial_connections_per_host, o.connections_per_host, () => clock.now());
    this.connections = new ConnectionPool(
      { perHost: o.connections_per_host, total: o.max_connections, messagesPerConnection: o.messages_per_connection, idleMs: o.idle_connection_timeout },
      {
        connect: o.timeouts.connect,
        greeting: o.timeouts.greeting,
        command: o.timeouts.command,
        dataEnd: o.timeouts.data_end,
        tlsHandshake: o.timeouts.tls_handshake,
        dataStart: o.timeouts.data_start,
      },
    );
    this.restrictions = new PoolRestrictions(store, this.ips, this.connections, config.dnsbl.ip_zones, config.dnsbl.refresh, logger);
    // Maps, not the configuration's plain objects: looking up a domain such as "constructor" must find nothing.
    const tlsPolicies = new Map(Object.entries(o.tls_policies));
    this.deps = {
      dns: new DnsLookup(config.dns.servers, config.dns.timeout),
      routes: new Map(Object.entries(config.routes)),
      port: o.port,
      allowPrivateDestinations: o.allow_private_destinations,
      ips: this.ips,
      connections: this.connections,
      ipBlockPatterns: replyPatterns(o.ip_block_patterns ?? DEFAULT_IP_BLOCK_PATTERNS),
      tlsPolicyFor: (domain) => tlsPolicies.get(domain) ?? o.tls,
      now: () => clock.now(),
    };
    this.notices = ownMailSettings(config);
    // While the store is unreachable an outcome waits in memory, its recipients held and leased: written when
    // it answers again, tried once per scan interval (the pace at which the scheduler asks the store anyway).
    this.settles = new SettleBatcher(store, clock, logger, config.queue.scan_interval);
  }

  /**
   * Delivers; resolves once the connection is handed back, with `settled` for when the outcome is durable:
   * the destination's slot can take its next job while this one's outcome waits for its group commit.
   */
  async runJob(job: DeliveryJob): Promise<JobRun> {
    const read = await this.store.delivery.messageWithBody(job.messageId);
    if (!read) return { settled: Promise.resolve() }; // deleted by an operator while queued
    const { message, body } = read;
    const allowed = this.restrictions.allowedFor(message.credentialId);
    const result = await deliverJob(
      { message, body, domain: job.domain, recipients: job.recipients, ...(allowed ? { allowed } : {}), lastResort: message.kind === 'system' },
      this.deps,
    );
    const now = this.clock.now();
    for (const a of result.avoid) {
      const until = now + this.config.outbound.avoid_ip_for;
      this.ips.avoid(a.sourceIp, a.destination, until, a.reason);
      // The message went out (or was refused) already: a store that cannot record the avoidance for the other
      // nodes must not lose this job's outcome, which is settled below. This node avoids the address anyway.
      await this.store.delivery.avoidIp({ sourceIp: a.sourceIp, destination: a.destination, until, reason: a.reason }).catch((error: Error) => {
        this.logger.warn({ event: 'store_error', during: 'avoid_ip', source_ip: a.sourceIp, error: error.message }, 'could not share an address avoidance; this node avoids it anyway');
      });
      this.logger.warn({ event: 'ip_avoided', source_ip: a.sourceIp, destination: a.destination, until: new Date(until).toISOString(), reason: a.reason }, 'outbound address avoided for a destination');
    }
    // A job held by the pool's state (every address blocklisted) says nothing about the destination.
    if (result.slowDown.length > 0 || (!result.transacted && !result.held)) this.concurrency.pushedBack(job.domain);
    else if (result.transacted) this.concurrency.succeeded(job.domain);
    for (const slow of result.slowDown) {
      this.connections.reduceConcurrency(slow.hostIp);
      this.logger.warn({ event: 'host_slow_down', host: slow.host, remote_ip: slow.hostIp, reason: slow.reason }, 'destination host asked for fewer connections');
    }
    const updates: RecipientUpdate[] = [];
    const failed: NoticeRecipient[] = [];
    const relayed: NoticeRecipient[] = [];
    const notifyById = new Map(job.recipients.map((r) => [r.id, r]));
    for (const v of result.verdicts) {
      // Held by the pool's state (every usable address blocklisted): never expired for it, tried again as soon
      // as the monitor may have seen a delisting.
      const next = result.held && v.verdict === 'defer' ? { state: 'deferred' as const, nextAttemptAt: now + this.heldRetryMs(), expired: false } : nextState(v.verdict, message, now);
      if (this.stopping && next.state === 'deferred') next.nextAttemptAt = now;
      // The remote reply is kept and quoted as received; why Relais stopped is said in its own words, apart.
      const explanation = next.expired ? `gave up: undelivered for ${Math.round((now - message.createdAt) / 3_600_000)} h` : null;
      const status = next.state === 'failed' && next.expired && !/^[45]/.test(v.status) ? '4.4.7' : v.status;
      updates.push({ id: v.id, state: next.state, nextAttemptAt: next.nextAttemptAt, reply: v.reply, status, remoteMta: v.remoteMta, at: now });
      const recipient = notifyById.get(v.id);
      const notify = recipient?.notify ?? null;
      if (next.state === 'failed' && this.config.notices.failure && wantsNotice('failure', message, notify)) {
        failed.push({ address: v.address, orcpt: recipient?.orcpt ?? null, status, remoteMta: v.remoteMta, diagnostic: v.reply, explanation, lastAttemptAt: now });
      }
      // RFC 3461 6.2.2: NOTIFY=SUCCESS to a next hop that does not notify gets a "relayed" notice from here.
      if (next.state === 'delivered' && v.dsnPassed !== true && wantsNotice('relayed', message, notify)) {
        // 2.0.0: the report is of the relaying, whatever detail the next hop gave its own acceptance (2.6.0...).
        relayed.push({ address: v.address, orcpt: recipient?.orcpt ?? null, status: '2.0.0', remoteMta: v.remoteMta, diagnostic: v.reply, lastAttemptAt: now });
      }
    }
    const notices: { kind: 'failure' | 'relayed'; notice: NewMessage }[] = [];
    if (failed.length) notices.push({ kind: 'failure', notice: noticeMessage('failure', message, body, failed, this.notices, now) });
    if (relayed.length) notices.push({ kind: 'relayed', notice: noticeMessage('relayed', message, body, relayed, this.notices, now) });
    const owner = job.recipients[0]?.leaseOwner ?? '';
    const settled = this.settles.settle(updates, result.attempts, notices.map((n) => n.notice), owner).then((applied) => {
      if (message.credentialId !== null && updates.length > 0) this.onSettled(message.credentialId);
      if (this.observer && applied.size > 0) this.observer.settled(countSettled(updates, applied, message, now));
      for (const a of result.attempts) this.logger.info({ event: 'delivery_attempt', ...attemptView(a) }, 'delivery attempt');
      for (const n of notices) this.logger.info({ event: 'notice_queued', kind: n.kind, message_id: message.id, notice_id: n.notice.id }, `${n.kind} notice queued`);
    });
    return { settled };
  }

  private heldRetryMs(): number {
    return Math.min(this.config.queue.retry_every, this.config.dnsbl.interval);
  }

  /** Work done every scheduler pass: delay notices, avoidance and pool restrictions shared between nodes, retention. */
  async periodic(): Promise<void> {
    const now = this.clock.now();
    await this.restrictions.refreshIfDue(now);
    // Every pass would be a query (and a recorded job run) per committed message under load: once a scan interval.
    if (performance.now() - this.lastDelayScan >= this.config.queue.scan_interval) {
      await this.serviceJob('delay-notices', async () => {
        this.lastDelayScan = performance.now();
        for (const id of await this.store.delivery.dueDelayNotices(now, 100)) await this.delayNotice(id, now);
      });
    }
    if (now - this.lastAvoidanceSync > 10_000) {
      this.lastAvoidanceSync = now;
      this.ips.prune(now);
      for (const a of await this.store.delivery.avoidances(now)) this.ips.avoid(a.sourceIp, a.destination, a.until, a.reason ?? '');
    }
    if (now - this.lastPurge > 3_600_000) {
      await this.serviceJob('purge', async () => {
        this.lastPurge = now;
        await this.store.delivery.purge(now - this.config.delivery.keep_log_for);
      });
    }
  }

  private async delayNotice(messageId: string, now: number): Promise<void> {
    const message = await this.store.delivery.message(messageId);
    if (!message) return;
    const pending = await this.store.delivery.pendingRecipients(messageId);
    const wanted = this.config.notices.delay ? pending.filter((r) => wantsNotice('delay', message, r.notify)) : [];
    let notice: NewMessage | null = null;
    if (wanted.length > 0) {
      const body = await this.store.messageBody(messageId);
      if (body) {
        notice = noticeMessage('delay', message, body, pendingAsNoticed(wanted), this.notices, now);
      }
    }
    if ((await this.store.delivery.recordDelayNotice(messageId, notice)) && notice) {
      this.logger.info({ event: 'notice_queued', kind: 'delay', message_id: messageId, notice_id: notice.id }, 'delay notice queued');
    }
  }

  close(): void {
    this.stopping = true;
    this.connections.closeAll();
    this.settles.close();
  }
}

/** The outcomes of one job that took effect (an update whose lease another node took over did not). */
function countSettled(updates: readonly RecipientUpdate[], applied: ReadonlySet<number>, message: { kind: MessageKind; createdAt: number }, at: number): SettledOutcome {
  const outcome: SettledOutcome = { kind: message.kind, acceptedAt: message.createdAt, at, delivered: 0, deferred: 0, failed: 0 };
  for (const u of updates) {
    if (!applied.has(u.id)) continue;
    if (u.state === 'delivered') outcome.delivered++;
    else if (u.state === 'failed') outcome.failed++;
    else outcome.deferred++;
  }
  return outcome;
}

interface PendingSettle {
  updates: readonly RecipientUpdate[];
  attempts: readonly AttemptRecord[];
  notices: readonly NewMessage[];
  since: number;
  owner: string;
  /** Resolved with the ids of the updates that took effect (the batch's, a superset of this job's). */
  done: (applied: Set<number>) => void;
  failed: (error: Error) => void;
}

/**
 * Group commit for outcomes: the jobs that end while one settle transaction is being fsynced are written
 * together in the next, so a busy node pays one fsync for many messages instead of one each. A job's call
 * resolves only once its own outcome is durable, and its recipients stay leased (renewed) until then.
 */
class SettleBatcher {
  private pending: PendingSettle[] = [];
  private writing = false;
  private closed = false;
  private wakeRetry: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retryMs: number,
    private readonly maxBatch = 500,
    private readonly collectMs = 20,
  ) {}

  /**
   * At stop: outcomes waiting for an unreachable store fail now instead of keeping the stop waiting. Their
   * recipients stay leased and are tried again when the lease ends (a message may then arrive twice).
   */
  close(): void {
    this.closed = true;
    this.wakeRetry?.();
  }

  /**
   * Settles one batch; while the store is unreachable, the same batch again every retryMs, until it answers or
   * the relay stops. A settle is safe to repeat: it applies only to recipients still leased to this owner, so
   * one whose COMMIT went through unseen changes nothing the second time (its attempts may be listed twice).
   */
  private async settleWithRetry(updates: RecipientUpdate[], attempts: AttemptRecord[], notices: NewMessage[], owner: string): Promise<Set<number>> {
    for (let failures = 0; ; failures++) {
      try {
        const applied = await this.store.delivery.settle(updates, attempts, notices, this.clock.now(), owner);
        if (failures > 0) this.logger.warn({ event: 'settle_resumed', recipients: updates.length, retries: failures }, 'delivery outcomes written after the store came back');
        return applied;
      } catch (error) {
        if (this.closed || !isStoreUnavailable(error)) throw error;
        if (failures === 0) {
          this.logger.error({ event: 'store_error', during: 'settle', recipients: updates.length, error: (error as Error).message }, 'cannot write delivery outcomes; holding them until the store answers');
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.retryMs);
          this.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeRetry = null;
      }
    }
  }

  /** `owner` is the lease the recipients were claimed under: only its holder may settle them. */
  settle(updates: readonly RecipientUpdate[], attempts: readonly AttemptRecord[], notices: readonly NewMessage[], owner: string): Promise<Set<number>> {
    return new Promise((done, failed) => {
      this.pending.push({ updates, attempts, notices, owner, since: performance.now(), done, failed });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0) {
      // A batch gathers the outcomes of up to `collectMs`: with a handful of connections per destination only
      // a few jobs end during one fsync, and each of them paying its own fsync is what limited delivery. (SQLite
      // also commits synchronously: jobs that end meanwhile are seen only after a turn of the event loop.)
      const wait = (this.pending[0] as PendingSettle).since + this.collectMs - performance.now();
      await new Promise((resolve) => (wait > 0 && this.pending.length < this.maxBatch ? setTimeout(resolve, wait) : setImmediate(resolve)));
      // One transaction settles under one lease owner (a node has one; the same, in practice, for every job).
      const owner = (this.pending[0] as PendingSettle).owner;
      let size = 0;
      while (size < this.pending.length && size < this.maxBatch && (this.pending[size] as PendingSettle).owner === owner) size++;
      const batch = this.pending.splice(0, size);
      try {
        const applied = await this.settleWithRetry(
          batch.flatMap((p) => p.updates),
          batch.flatMap((p) => p.attempts),
          batch.flatMap((p) => p.notices),
          owner,
        );
        for (const p of batch) p.done(applied);
      } catch (error) {
        if (batch.length === 1) (batch[0] as PendingSettle).failed(error as Error);
        // One job's bad write must not fail the others with it: each alone, then.
        else for (const p of batch) await this.store.delivery.settle(p.updates, p.attempts, p.notices, this.clock.now(), p.owner).then(p.done, p.failed);
      }
    }
    this.writing = false;
  }
}
