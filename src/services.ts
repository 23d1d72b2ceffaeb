import { AccountsService } from './accounts/accounts-service.js';
import { ApiTokenService } from './console/api/api-tokens.js';
import { AuditService } from './accounts/staff-audit.js';
import { LoginService } from './accounts/console-logins.js';
import { lifecycleSettings, SubscriptionService } from './lifecycle/subscription-service.js';
import type { RelaisConfig } from './config/schema.js';
import { createLogger, type Logger } from './log/logger.js';
import { QuotaService } from './quota/quota-service.js';
import { ownMailSettings } from './queue/own-mail.js';
import { SystemMailer } from './queue/system-mail.js';
import { ComplaintService } from './reputation/complaints.js';
import { BounceRateService } from './reputation/bounce-rate.js';
import { SuspensionService } from './reputation/suspensions.js';
import { DkimKeys } from './sender-auth/dkim-keys.js';
import { secretKeyPath } from './sender-auth/secret-key.js';
import { systemClock, type Clock } from './shared/clock.js';
import { Store } from './store/store.js';

/** The services every entry point shares (relay, CLI, later the console), built once around one store. */
export interface Services {
  config: RelaisConfig;
  clock: Clock;
  store: Store;
  accounts: AccountsService;
  quota: QuotaService;
  suspensions: SuspensionService;
  /** Mail Relais writes itself (operator alerts, notices to customers), queued like any other. */
  systemMail: SystemMailer;
  dkim: DkimKeys;
  complaints: ComplaintService;
  tokens: ApiTokenService;
  bounces: BounceRateService;
  /** Console logins (staff, customers) and their web sessions. */
  logins: LoginService;
  /** The history of staff actions, from the CLI, the console and the API. */
  audit: AuditService;
  /** Subscriptions, renewal orders and the lifecycle job. */
  subscriptions: SubscriptionService;
  close(): Promise<void>;
}

export async function openServices(
  config: RelaisConfig,
  clock: Clock = systemClock,
  options: { create?: boolean; logger?: Logger } = {},
): Promise<Services> {
  const s = config.store;
  const pool = { connectTimeoutMs: s.connect_timeout, statementTimeoutMs: s.statement_timeout, idleInTransactionTimeoutMs: s.idle_in_transaction_timeout, poolSize: s.pool_size };
  const store = await Store.open(config.store.url, clock.now(), { ...options, pool });
  const accounts = new AccountsService(store, clock, config.auth.cache_ttl);
  const quota = new QuotaService(store, clock, config.quota.window, config.quota.reservation_ttl);
  const suspensions = new SuspensionService(store, clock, config.fees);
  const systemMail = new SystemMailer(store, clock, ownMailSettings(config));
  const dkim = new DkimKeys(store, clock, secretKeyPath(config));
  const complaints = new ComplaintService(
    store,
    suspensions,
    clock,
    { complaintsToSuspend: config.abuse.complaints_to_suspend, windowMs: config.abuse.complaint_window },
    options.logger ?? createLogger('silent'),
  );
  const tokens = new ApiTokenService(store, clock);
  const bounces = new BounceRateService(store, clock, suspensions, {
    windowMs: config.abuse.bounce_rate_window,
    maxRate: config.abuse.max_bounce_rate,
    minRecipients: config.abuse.min_recipients_for_rate,
  });
  const logins = new LoginService(store, clock, { idleMs: config.console.session_idle, maxMs: config.console.session_max });
  const audit = new AuditService(store, clock);
  const subscriptions = new SubscriptionService(store, clock, suspensions, lifecycleSettings(config), ownMailSettings(config));
  const noticeLog = options.logger ?? createLogger('silent');
  // A notice that cannot be queued must not undo or fail the suspension it reports.
  suspensions.onChange((change) =>
    subscriptions.suspensionChanged(change).catch((error: Error) => {
      noticeLog.error({ event: 'customer_notice_failed', credential_id: change.credentialId, kind: change.kind, error: error.message }, 'could not queue the customer notice');
    }),
  );
  return {
    config,
    clock,
    store,
    accounts,
    quota,
    suspensions,
    systemMail,
    dkim,
    complaints,
    tokens,
    bounces,
    logins,
    audit,
    subscriptions,
    close: () => store.close(),
  };
}