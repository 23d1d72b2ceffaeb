import { AccountsService } from './accounts/accounts-service.js';
import { DeliveryService } from './delivery/delivery-service.js';
import { Scheduler } from './queue/scheduler.js';
import type { RelaisConfig } from './config/schema.js';
import { createLogger, type Logger } from './log/logger.js';
import { Spool } from './queue/spool.js';
import { QuotaService } from './quota/quota-service.js';
import { SuspensionService } from './reputation/suspensions.js';
import { systemClock, type Clock } from './shared/clock.js';
import { leaseOwner } from './store/delivery-queue.js';
import { Store } from './store/store.js';
import { AuthGuard } from './submission/auth-guard.js';
import { ConnectionLimiter } from './submission/connection-limits.js';
import { SubmissionListeners, type BoundListener } from './submission/listeners.js';
import { RelayPolicy } from './submission/relay-policy.js';
import { ensureTlsFiles, loadServerTls, type ServerTls, type TlsFiles } from './submission/tls-context.js';

export interface RelayOptions {
  clock?: Clock;
  logger?: Logger;
}

/** The services every entry point shares (relay, CLI, later the console), built once around one store. */
export interface Services {
  config: RelaisConfig;
  clock: Clock;
  store: Store;
  accounts: AccountsService;
  quota: QuotaService;
  suspensions: SuspensionService;
  close(): Promise<void>;
}

export async function openServices(config: RelaisConfig, clock: Clock = systemClock, options: { create?: boolean } = {}): Promise<Services> {
  const store = await Store.open(config.store.url, clock.now(), options);
  const accounts = new AccountsService(store, clock, config.auth.cache_ttl);
  const quota = new QuotaService(store, clock, config.quota.window, config.quota.reservation_ttl);
  const suspensions = new SuspensionService(store, clock, config.fees);
  return { config, clock, store, accounts, quota, suspensions, close: () => store.close() };
}

export interface Relay extends Services {
  logger: Logger;
  /** Absent when delivery.enabled is false (a submission-only node). */
  delivery?: DeliveryService;
  scheduler?: Scheduler;
  listeners: BoundListener[];
  tls: TlsFiles;
  /** Re-reads the certificate and key (after a renewal): `relais start` does it on SIGHUP. */
  reloadTls(): void;
  stop(): Promise<void>;
}

/** Starts a whole relay: store, submission listeners. Two relays can run in one process (tests do). */
export async function startRelay(config: RelaisConfig, options: RelayOptions = {}): Promise<Relay> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level, undefined, config.log.format);
  const services = await openServices(config, clock);
  try {
    // SQLite belongs to this one process: reservations of a run that crashed hold nothing now.
    if (services.store.dialect === 'sqlite') await services.store.releaseAllReservations();
    const tls = await ensureTlsFiles(config.tls, config.data_dir, config.hostname);
    const spool = new Spool(services.store, config.queue.commit_batch_max);
    const listeners = createSubmission(config, services, spool, loadServerTls(tls, config.tls), logger);
    const { delivery, scheduler } = config.delivery.enabled ? createDelivery(config, services, logger) : {};
    if (scheduler) spool.onCommitted = () => scheduler.wake();
    if (scheduler) await releaseOwnLeases(config, services, logger);
    const bound = await listeners.start();
    scheduler?.start();
    const maintenance = setInterval(() => {
      services.quota.prune().catch((error: Error) => logger.warn({ event: 'maintenance_failed', error: error.message }, 'quota pruning failed'));
    }, 3_600_000);
    maintenance.unref();
    logger.info({ event: 'started', listeners: bound, store: services.store.dialect, delivery: Boolean(scheduler) }, 'relay started');
    return {
      ...services,
      logger,
      listeners: bound,
      tls,
      delivery,
      scheduler,
      reloadTls() {
        const renewed = loadServerTls(tls, config.tls);
        listeners.updateTls(renewed.context);
        logger.info({ event: 'tls_reloaded', cert: tls.cert }, 'TLS certificate reloaded');
      },
      async stop() {
        clearInterval(maintenance);
        await listeners.stop();
        await spool.drain();
        await scheduler?.stop(config.delivery.stop_grace, () => delivery?.close());
        delivery?.close();
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
function createSubmission(config: RelaisConfig, services: Services, spool: Spool, serverTls: ServerTls, logger: Logger): SubmissionListeners {
  const policy = new RelayPolicy({
    accounts: services.accounts,
    quota: services.quota,
    spool,
    clock: services.clock,
    hostname: config.hostname,
    logger,
    receivedShowsCredential: config.submission.received_shows_credential,
    allowPrivateDestinations: config.outbound.allow_private_destinations,
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
  return new SubmissionListeners({ settings, policy, guard, logger, secureContext: serverTls.context }, config.listen, limiter);
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

/** The delivery side: the delivery service and the scheduler that feeds it from the queue. */
function createDelivery(config: RelaisConfig, services: Services, logger: Logger): { delivery: DeliveryService; scheduler: Scheduler } {
  const delivery = new DeliveryService(services.store, services.clock, config, logger);
  const scheduler = new Scheduler(
    services.store.delivery,
    services.clock,
    {
      scanIntervalMs: config.queue.scan_interval,
      leaseMs: config.queue.lease_time,
      claimBatch: config.queue.claim_batch,
      concurrency: config.outbound.max_connections,
      perDestination: config.outbound.connections_per_host,
      owner: leaseOwner(config.node.name),
    },
    (job) => delivery.runJob(job),
    () => delivery.periodic(),
    logger,
  );
  return { delivery, scheduler };
}
