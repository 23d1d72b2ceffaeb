import type { RelaisConfig } from '../config/schema.js';
import type { NoticeRecipient } from '../dsn/delivery-report.js';
import { noticeMessage, noticeSettings, pendingAsNoticed, type NoticeSettings } from '../dsn/notice-builder.js';
import { wantsNotice } from '../dsn/notice-policy.js';
import type { Logger } from '../log/logger.js';
import { nextState } from '../queue/retry-schedule.js';
import type { DeliveryJob } from '../queue/scheduler.js';
import type { Clock } from '../shared/clock.js';
import type { RecipientUpdate } from '../store/delivery-records.js';
import type { NewMessage } from '../store/records.js';
import type { Store } from '../store/store.js';
import { attemptView } from './attempt-view.js';
import { ConnectionPool } from './connection-pool.js';
import { deliverJob, type JobDeps } from './deliver-job.js';
import { DnsLookup } from './dns-lookup.js';
import { IpPool } from './ip-pool.js';
import { DEFAULT_IP_BLOCK_PATTERNS, compilePatterns } from './reply-classifier.js';

/**
 * Runs delivery jobs end to end: the attempt, the recipients' next state on the message's own schedule, the
 * failure notices, the delay notices, and the avoidance of refused source addresses, all written back durably.
 */
export class DeliveryService {
  readonly ips: IpPool;
  private readonly connections: ConnectionPool;
  private readonly deps: JobDeps;
  private readonly notices: NoticeSettings;
  private lastAvoidanceSync = 0;
  private lastPurge = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly config: RelaisConfig,
    private readonly logger: Logger,
  ) {
    const o = config.outbound;
    this.ips = IpPool.fromConfig(o.ips, config.hostname);
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
    this.deps = {
      dns: new DnsLookup(config.dns.servers, config.dns.timeout),
      routes: config.routes,
      port: o.port,
      allowPrivateDestinations: o.allow_private_destinations,
      ips: this.ips,
      connections: this.connections,
      ipBlockPatterns: compilePatterns(o.ip_block_patterns ?? DEFAULT_IP_BLOCK_PATTERNS),
      tlsPolicyFor: (domain) => o.tls_policies[domain] ?? o.tls,
      now: () => clock.now(),
    };
    this.notices = noticeSettings(config);
  }

  async runJob(job: DeliveryJob): Promise<void> {
    const message = await this.store.delivery.message(job.messageId);
    const body = message && (await this.store.messageBody(job.messageId));
    if (!message || !body) return; // deleted by an operator while queued
    const result = await deliverJob({ message, body, domain: job.domain, recipients: job.recipients }, this.deps);
    const now = this.clock.now();
    for (const a of result.avoid) {
      const until = now + this.config.outbound.avoid_ip_for;
      this.ips.avoid(a.sourceIp, a.destination, until, a.reason);
      await this.store.delivery.avoidIp({ sourceIp: a.sourceIp, destination: a.destination, until, reason: a.reason });
      this.logger.warn({ event: 'ip_avoided', source_ip: a.sourceIp, destination: a.destination, until: new Date(until).toISOString(), reason: a.reason }, 'outbound address avoided for a destination');
    }
    const updates: RecipientUpdate[] = [];
    const failed: NoticeRecipient[] = [];
    const notifyById = new Map(job.recipients.map((r) => [r.id, r]));
    for (const v of result.verdicts) {
      const next = nextState(v.verdict, message, now);
      const reply = next.expired ? `${v.reply} (gave up: undelivered for ${Math.round((now - message.createdAt) / 3_600_000)} h)` : v.reply;
      const status = next.state === 'failed' && next.expired && !/^[45]/.test(v.status) ? '4.4.7' : v.status;
      updates.push({ id: v.id, state: next.state, nextAttemptAt: next.nextAttemptAt, reply, status, remoteMta: v.remoteMta, at: now });
      const recipient = notifyById.get(v.id);
      if (next.state === 'failed' && this.config.notices.failure && wantsNotice('failure', message, recipient?.notify ?? null)) {
        failed.push({ address: v.address, orcpt: recipient?.orcpt ?? null, status, remoteMta: v.remoteMta, diagnostic: reply, lastAttemptAt: now });
      }
    }
    const notices: NewMessage[] = failed.length ? [noticeMessage('failure', message, body, failed, this.notices, now)] : [];
    await this.store.delivery.settle(updates, result.attempts, notices, now);
    for (const a of result.attempts) this.logger.info({ event: 'delivery_attempt', ...attemptView(a) }, 'delivery attempt');
    for (const n of notices) this.logger.info({ event: 'notice_queued', kind: 'failure', message_id: message.id, notice_id: n.id }, 'failure notice queued');
  }

  /** Work done every scheduler pass: delay notices, avoidance shared between nodes, retention. */
  async periodic(): Promise<void> {
    const now = this.clock.now();
    for (const id of await this.store.delivery.dueDelayNotices(now, 100)) await this.delayNotice(id, now);
    if (now - this.lastAvoidanceSync > 10_000) {
      this.lastAvoidanceSync = now;
      this.ips.prune(now);
      for (const a of await this.store.delivery.avoidances(now)) this.ips.avoid(a.sourceIp, a.destination, a.until, a.reason ?? '');
    }
    if (now - this.lastPurge > 3_600_000) {
      this.lastPurge = now;
      await this.store.delivery.purge(now - this.config.delivery.keep_log_for);
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
    this.connections.closeAll();
  }
}
