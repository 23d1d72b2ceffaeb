import { JobLeases, SERVICE_JOBS } from './cluster/job-leases.js';
import { NodeRegistry } from './cluster/node-registry.js';
import { clusterPool } from './cluster/outbound-pool.js';
import { ConsoleServer } from './console/http-server.js';
import { LifecycleJob } from './lifecycle/lifecycle-job.js';
import { ClamdScanner } from './antivirus/virus-scanner.js';
import { DeliveryService, type DeliveryObserver } from './delivery/delivery-service.js';
import { Scheduler } from './queue/scheduler.js';
import type { RelaisConfig } from './config/schema.js';
import { createLogger, type Logger } from './log/logger.js';
import { RelayMetrics } from './metrics/relay-metrics.js';
import { Spool } from './queue/spool.js';
import { BlocklistSchedule, type Round } from './reputation/blocklist-schedule.js';
import { DnsblLookup } from './reputation/dnsbl-lookup.js';
import { DomainBlocklistMonitor } from './reputation/domain-monitor.js';
import { INBOUND_CLIENT, InboundPolicy } from './reputation/inbound-policy.js';
import { IpBlocklistMonitor } from './reputation/ip-monitor.js';
import { OperatorAlerts } from './reputation/operator-alerts.js';
import { SenderDomainRecorder } from './reputation/sender-domains.js';
import { BounceWatch } from './reputation/bounce-watch.js';
import { MessageSigner } from './sender-auth/message-signer.js';
import { secretKeyPath } from './sender-auth/secret-key.js';
import { systemClock, type Clock } from './shared/clock.js';
import { relaisVersion } from './shared/version.js';
import { leaseOwner } from './store/delivery-queue.js';
import { AuthGuard } from './submission/auth-guard.js';
import { ClientOrigins } from './submission/client-origin.js';
import { ConnectionLimiter } from './submission/connection-limits.js';
import { parseEndpoint, SubmissionListeners, type BoundListener } from './submission/listeners.js';
import type { SubmissionObserver } from './submission/session.js';
import { RelayPolicy, type RelayPolicyDeps } from './submission/relay-policy.js';
import { ensureTlsFiles, loadServerTls, type ServerTls, type TlsFiles } from './submission/tls-context.js';

export interface RelayOptions {
  clock?: Clock;
  logger?: Logger;
}

import { openServices, type Services } from './services.js';

export { openServices, type Services };

export interface Relay extends Services {
  logger: Logger;
  /** Absent when delivery.enabled is false (a submission-only node). */
  delivery?: DeliveryService;
  scheduler?: Scheduler;
  /** The blocklist rounds (outbound addresses, sender domains); `runNow()` runs one at once. */
  blocklists: BlocklistSchedule;
  /** The subscription lifecycle job; `runNow()` runs it at once. */
  lifecycle: LifecycleJob;
  /** The service jobs' leases: which of them this node runs now. */
  jobs: JobLeases;
  listeners: BoundListener[];
  /** Counters and gauges served at /metrics on listen.console (kept, and counting, when the console is off). */
  metrics: RelayMetrics;
  tls: TlsFiles;
  /** Re-reads the certificate and key (after a renewal): `relais start` does it on SIGHUP. */
  reloadTls(): void;
  stop(): Promise<void>;
}

/** Starts a whole relay: store, submission listeners. Two relays can run in one process (tests do). */
export async function startRelay(config: RelaisConfig, options: RelayOptions = {}): Promise<Relay> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level, undefined, config.log.format);
  const services = await openServices(config, clock, { logger });
  try {
    // SQLite belongs to this one process: reservations of a run that crashed hold nothing now.
    if (services.store.dialect === 'sqlite') await services.store.releaseAllReservations();
    const tls = await ensureTlsFiles(config.tls, config.data_dir, config.hostname);
    const spool = new Spool(services.store, config.queue.commit_batch_max);
    const metrics = new RelayMetrics({
      clock,
      logger,
      readStore: () => services.store.metrics.snapshot(),
      outboundAddresses: config.outbound.ips.map((ip) => ip.address),
    });
    const roles = new Set(config.node.roles);
    // delivery.enabled: false is the older way to say a node without the delivery role.
    if (!config.delivery.enabled) roles.delete('delivery');
    // Leases and heartbeats are measured in real time between processes, whatever clock a test gives the relay.
    const jobs = new JobLeases({
      records: services.store.cluster,
      node: config.node.name,
      leaseMs: config.node.job_lease_time,
      tryEveryMs: Math.max(10, Math.min(config.node.heartbeat_interval, Math.floor(config.node.job_lease_time / 6))),
      takesLeases: roles.has('jobs'),
      clock: systemClock,
      logger,
    });
    metrics.countJobs(SERVICE_JOBS, () => jobs.held());
    const reputation = createBlocklistMonitoring(config, services, logger, jobs);
    const signer = await createSigner(config, services, logger);
    const serverTls = loadServerTls(tls, config.tls);
    const listeners = createSubmission(config, services, spool, signer, serverTls, logger, reputation.senderDomains, metrics);
    const inbound = createInbound(config, services, serverTls, logger);
    metrics.countSessions('submission', () => listeners.activeSessions);
    metrics.countSessions('inbound', () => inbound.activeSessions);
    const { delivery, scheduler } = roles.has('delivery') ? createDelivery(config, services, logger, metrics) : {};
    jobs.want('lifecycle');
    jobs.want('pruning');
    if (config.dnsbl.ip_zones.length > 0 || config.dnsbl.domain_zones.length > 0) jobs.want('blocklists');
    if (delivery) {
      jobs.want('delay-notices');
      jobs.want('purge');
      delivery.serviceJob = (job, work) => jobs.run(job, work);
    }
    if (scheduler) spool.onCommitted = () => scheduler.wake();
    const bounceWatch = delivery && config.abuse.max_bounce_rate !== undefined ? new BounceWatch(services.bounces, clock, config.abuse.bounce_check_interval, logger) : undefined;
    if (delivery && bounceWatch) delivery.onSettled = (credentialId) => bounceWatch.settled(credentialId);
    if (scheduler) await releaseOwnLeases(config, services, logger);
    // Listed addresses and pinnings are known before the first job leaves.
    await delivery?.restrictions.refresh(clock.now());
    const blocklists = reputation.schedule(delivery);
    // Without the submission role no SMTP port is opened at all (submission, smtps, smtp, inbound).
    const bound = roles.has('submission') ? [...(await listeners.start())] : [];
    let consoleServer: ConsoleServer | undefined;
    let registry: NodeRegistry;
    try {
      if (roles.has('submission')) bound.push(...(await inbound.start()));
      if (roles.has('console') && config.listen.console.length > 0) {
        consoleServer = await ConsoleServer.start(config.listen.console, { services, logger, metrics });
        bound.push(...consoleServer.bound);
      }
      registry = new NodeRegistry({
        records: services.store.cluster,
        node: {
          name: config.node.name,
          roles: [...roles],
          version: relaisVersion(),
          listen: bound.map((l) => `${l.kind} ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`),
          outboundIps: config.outbound.ips.map((ip) => ({ address: ip.address, ehlo: ip.ehlo ?? config.hostname })),
          heartbeatMs: config.node.heartbeat_interval,
        },
        clock: systemClock,
        activity: () => ({ sessions: listeners.activeSessions + inbound.activeSessions, deliveries: scheduler?.stats().running ?? 0 }),
        logger,
      });
      await registry.start();
      // The leases this node can take now are held before its jobs first run (a single node runs them all at once).
      await jobs.start();
    } catch (error) {
      await listeners.stop();
      await inbound.stop();
      await consoleServer?.stop();
      await jobs.stop();
      throw error;
    }
    scheduler?.start();
    blocklists.start();
    bounceWatch?.start();
    const lifecycle = new LifecycleJob(services.subscriptions, config.lifecycle.interval, logger, (work) => jobs.run('lifecycle', work));
    lifecycle.start();
    const maintenance = setInterval(
      () =>
        void jobs
          .run('pruning', async () => {
            await services.quota.prune().catch((error: Error) => logger.warn({ event: 'maintenance_failed', error: error.message }, 'quota pruning failed'));
            await services.bounces.prune().catch((error: Error) => logger.warn({ event: 'maintenance_failed', error: error.message }, 'bounce count pruning failed'));
            await services.store.cluster.pruneRuns(Date.now() - config.node.keep_job_runs_for);
            // Console sessions past their end are refused already; this only keeps the table from growing.
            await services.logins.purgeExpired().catch((error: Error) => logger.warn({ event: 'maintenance_failed', error: error.message }, 'session purge failed'));
          })
          .catch((error: Error) => logger.warn({ event: 'maintenance_failed', error: error.message }, 'pruning failed; retried next interval')),
      config.quota.prune_interval,
    );
    maintenance.unref();
    logger.info(
      { event: 'started', node: config.node.name, roles: [...roles], listeners: bound, store: services.store.dialect, delivery: Boolean(scheduler), jobs: jobs.held() },
      'relay started',
    );
    return {
      ...services,
      logger,
      listeners: bound,
      metrics,
      tls,
      lifecycle,
      jobs,
      delivery,
      scheduler,
      blocklists,
      reloadTls() {
        const renewed = loadServerTls(tls, config.tls);
        listeners.updateTls(renewed.context);
        inbound.updateTls(renewed.context);
        logger.info({ event: 'tls_reloaded', cert: tls.cert }, 'TLS certificate reloaded');
      },
      async stop() {
        clearInterval(maintenance);
        // Delivery takes no more work from now on and gives back at once what it claimed and has not started (the
        // other nodes take it), while the listeners let the transactions in progress end: stop_grace counts from
        // the signal, which keeps the whole stop within the stop_grace + 5 s that `relais start` promises.
        const deliveryStopped = (async () => {
          await scheduler?.stop(config.delivery.stop_grace, () => delivery?.close());
          delivery?.close();
        })();
        // The job leases go at once (after the runs under way), so another node takes the jobs without waiting.
        await Promise.all([listeners.stop(), inbound.stop(), consoleServer?.stop(), jobs.stop()]);
        await spool.drain();
        await blocklists.stop();
        await reputation.drain();
        await lifecycle.stop();
        await deliveryStopped;
        await bounceWatch?.stop();
        await registry.stop();
        await services.close();
        logger.info({ event: 'stopped' }, 'relay stopped');
        logger.flush?.();
      },
    };
  } catch (error) {
    await services.close().catch(() => undefined);
    throw error;
  }
}

/** The submission side: policy (accounts, quota, spool), brute-force guard, listeners. */
function createSubmission(
  config: RelaisConfig,
  services: Services,
  spool: Spool,
  signer: MessageSigner,
  serverTls: ServerTls,
  logger: Logger,
  senderDomains: SenderDomainRecorder,
  observer: SubmissionObserver,
): SubmissionListeners {
  const policy = new RelayPolicy({
    senderDomains,
    accounts: services.accounts,
    quota: services.quota,
    spool,
    clock: services.clock,
    hostname: config.hostname,
    logger,
    receivedShowsCredential: config.submission.received_shows_credential,
    releaseRetryMs: config.queue.scan_interval,
    releaseRetryUntilMs: config.quota.reservation_ttl,
    allowPrivateDestinations: config.outbound.allow_private_destinations,
    signer,
    antivirus: createAntivirus(config, services),
    queueTimes: {
      retryEveryMs: config.queue.retry_every,
      giveUpAfterMs: config.queue.give_up_after,
      delayNoticeAfterMs: config.queue.delay_notice_after,
    },
  });
  const a = config.auth;
  const guard = new AuthGuard(
    {
      maxFailuresPerIp: a.max_failures_per_ip,
      maxFailuresPerUser: a.max_failures_per_user,
      failureWindowMs: a.failure_window,
      blockForMs: a.block_for,
      maxParallelPerIp: a.max_parallel_per_ip,
    },
    services.clock,
  );
  const s = config.submission;
  const settings = {
    hostname: config.hostname,
    maxMessageSize: s.max_message_size,
    maxRecipients: s.max_recipients,
    maxLineLength: s.max_line_length,
    maxCommandLength: s.max_command_length,
    rejectBareNewlines: s.reject_bare_newlines,
    allowPlainAuthOnLoopback: s.allow_plain_auth_on_loopback,
    idleTimeoutMs: s.idle_timeout,
    maxErrors: s.max_errors,
    maxJunkCommands: s.max_junk_commands,
    tlsHandshakeTimeoutMs: s.tls_handshake_timeout,
  };
  const limiter = new ConnectionLimiter(
    {
      maxConnections: s.max_connections,
      maxPerIp: s.max_connections_per_ip,
      maxRatePerIp: s.max_connection_rate_per_ip,
      exceptions: s.connection_limit_exceptions,
    },
    services.clock,
  );
  const { submission, smtps, smtp, proxy_from, proxy_timeout } = config.listen;
  const origins = new ClientOrigins({ from: proxy_from, timeoutMs: proxy_timeout }, logger, observer);
  return new SubmissionListeners(
    { settings, policy, guard, logger, observer, origins, secureContext: serverTls.context },
    { submission, smtps, smtp },
    limiter,
  );
}

/** listen.inbound: mail to the relay's own addresses (complaints), with the submission side's SMTP engine and limits. */
function createInbound(config: RelaisConfig, services: Services, serverTls: ServerTls, logger: Logger): SubmissionListeners {
  const s = config.submission;
  const policy = new InboundPolicy({ complaints: services.complaints, complaintsAddress: config.complaints.address, hostname: config.hostname, logger });
  const settings = {
    hostname: config.hostname,
    maxMessageSize: config.complaints.max_report_size,
    // A report goes to one or two addresses; more is someone trying their luck.
    maxRecipients: 10,
    maxLineLength: s.max_line_length,
    maxCommandLength: s.max_command_length,
    rejectBareNewlines: s.reject_bare_newlines,
    allowPlainAuthOnLoopback: false,
    idleTimeoutMs: s.idle_timeout,
    maxErrors: s.max_errors,
    maxJunkCommands: s.max_junk_commands,
    tlsHandshakeTimeoutMs: s.tls_handshake_timeout,
  };
  // No AUTH here, so the guard never admits anyone; the session only needs one to exist.
  const guard = new AuthGuard(
    { maxFailuresPerIp: 1, maxFailuresPerUser: 1, failureWindowMs: 60_000, blockForMs: 60_000, maxParallelPerIp: 1 },
    services.clock,
  );
  const limiter = new ConnectionLimiter(
    { maxConnections: s.max_connections, maxPerIp: s.max_connections_per_ip, maxRatePerIp: s.max_connection_rate_per_ip, exceptions: s.connection_limit_exceptions },
    services.clock,
  );
  return new SubmissionListeners(
    // listen.proxy_from is for the submission ports: the MX's port 25 is not behind the submission balancer.
    { settings, policy, guard, logger, origins: new ClientOrigins({ from: [], timeoutMs: 0 }, logger), secureContext: serverTls.context, anonymous: INBOUND_CLIENT },
    { inbound: config.listen.inbound },
    limiter,
  );
}

/**
 * DKIM signing. The secrets key is checked now: a relay whose key file is missing or wrong refuses to start
 * rather than send the stored domains' mail unsigned or turn it all away at DATA.
 */
async function createSigner(config: RelaisConfig, services: Services, logger: Logger): Promise<MessageSigner> {
  const { box, created } = await services.dkim.openBox();
  if (created) logger.info({ event: 'secrets_key_created', file: secretKeyPath(config) }, 'secrets key file created (mode 0600): back it up with the store');
  return new MessageSigner({ keys: services.dkim, box, clock: services.clock, cacheMs: config.dkim.cache_ttl, headers: config.dkim.headers });
}

/** The virus scanner of the submission policy, when antivirus.clamd names one. */
function createAntivirus(config: RelaisConfig, services: Services): RelayPolicyDeps['antivirus'] {
  const av = config.antivirus;
  if (!av.clamd) return undefined;
  const { address, port } = parseEndpoint(av.clamd);
  const scanner = new ClamdScanner({
    clamd: { host: address, port },
    timeoutMs: av.timeout,
    maxSize: av.max_size,
    overMaxSize: av.over_max_size,
    maxConcurrent: av.max_concurrent_scans,
  });
  return { scanner, onError: av.on_error, suspensions: services.suspensions, clamd: av.clamd };
}

/**
 * Whatever an earlier process of this node was delivering when it died is due now rather than when its leases
 * would have run out. This is why node.name must be unique in a cluster: a second live node of the same name
 * would free the first one's recipients and they would be sent twice. A SQLite store has one node only.
 */
async function releaseOwnLeases(config: RelaisConfig, services: Services, logger: Logger): Promise<void> {
  const freed = await services.store.delivery.releaseNodeLeases(config.node.name, services.clock.now(), services.store.dialect === 'sqlite');
  if (freed > 0) {
    logger.info({ event: 'leases_released', node: config.node.name, recipients: freed }, 'recipients an earlier run of this node was delivering are due again');
  }
}

/**
 * Blocklist monitoring: the outbound addresses and the sender domains looked up in the configured zones every
 * dnsbl.interval, sender domains recorded from the submission path and checked when first seen, changes told
 * to the operator. The rounds run on one node at a time (the blocklist job lease) over every node's addresses;
 * every write is conditional too, so a change counts once even if two rounds ever met.
 */
function createBlocklistMonitoring(config: RelaisConfig, services: Services, logger: Logger, jobs: JobLeases) {
  const lookup = new DnsblLookup(config.dns.servers, config.dnsbl.timeout, config.dnsbl.concurrency);
  const alerts = new OperatorAlerts(services.systemMail, config.alerts.email, logger);
  const domains = new DomainBlocklistMonitor({ store: services.store, lookup, clock: services.clock, logger, suspensions: services.suspensions, zones: config.dnsbl.domain_zones });
  const checks = new Set<Promise<void>>();
  const senderDomains = new SenderDomainRecorder(
    services.store,
    services.clock,
    config.dnsbl.last_use_every,
    (use) => {
      if (config.dnsbl.domain_zones.length === 0) return;
      // Off the 250's path: the message is already queued; a listing suspends what comes next.
      const check = domains.checkFirstUse(use.credentialId, use.domain).catch((error: Error) => {
        logger.error({ event: 'dnsbl_round_failed', round: 'first use', domain: use.domain, error: error.message }, 'could not check a new sender domain; the next round will');
      });
      checks.add(check);
      void check.finally(() => checks.delete(check));
    },
    logger,
  );
  return {
    senderDomains,
    schedule(delivery: DeliveryService | undefined): BlocklistSchedule {
      const rounds: Round[] = [];
      if (config.dnsbl.ip_zones.length > 0) {
        const ips = new IpBlocklistMonitor({
          store: services.store,
          lookup,
          clock: services.clock,
          logger,
          alerts,
          // The whole pool, every node's: one node at a time runs the rounds for the service.
          addresses: async () => (await clusterPool(services.store.cluster, config)).map((a) => a.address),
          zones: config.dnsbl.ip_zones,
          ...(delivery ? { onListings: (listings) => delivery.restrictions.applyListings(listings) } : {}),
        });
        rounds.push({ name: 'outbound addresses', run: () => ips.runOnce() });
      }
      if (config.dnsbl.domain_zones.length > 0) rounds.push({ name: 'sender domains', run: () => domains.runOnce() });
      return new BlocklistSchedule(rounds, config.dnsbl.interval, logger, (work) => jobs.run('blocklists', work));
    },
    async drain(): Promise<void> {
      await senderDomains.drain();
      await Promise.all([...checks]);
    },
  };
}

/** The delivery side: the delivery service and the scheduler that feeds it from the queue. */
function createDelivery(config: RelaisConfig, services: Services, logger: Logger, observer: DeliveryObserver): { delivery: DeliveryService; scheduler: Scheduler } {
  const delivery = new DeliveryService(services.store, services.clock, config, logger, observer);
  const scheduler = new Scheduler(
    services.store.delivery,
    services.clock,
    {
      scanIntervalMs: config.queue.scan_interval,
      leaseMs: config.queue.lease_time,
      claimBatch: config.queue.claim_batch,
      concurrency: config.outbound.max_connections,
      perDestination: (domain) => delivery.concurrency.limit(domain),
      owner: leaseOwner(config.node.name),
    },
    (job) => delivery.runJob(job),
    () => delivery.periodic(),
    logger,
  );
  return { delivery, scheduler };
}
