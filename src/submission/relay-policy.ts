import type { AccountsService } from '../accounts/accounts-service.js';
import type { Logger } from '../log/logger.js';
import { newQueueId } from '../queue/queue-id.js';
import type { Spool } from '../queue/spool.js';
import type { QuotaService } from '../quota/quota-service.js';
import type { Clock } from '../shared/clock.js';
import { addressLiteral, nonPublicRange } from '../shared/private-address.js';
import { describeWindow, formatUtcDateTime, formatUtcMinute } from '../shared/time-format.js';
import type { MailArgs, RcptArgs } from './envelope-parser.js';
import { addTraceHeaders } from './message-headers.js';
import type { AcceptedEnvelope, AuthenticatedUser, ClientInfo, Decision, QueuedAs, SubmissionPolicy, TransactionTicket } from './policy.js';
import { REPLY } from './replies.js';

export interface QueueTimes {
  retryEveryMs: number;
  giveUpAfterMs: number;
  delayNoticeAfterMs: number;
}

export interface RelayPolicyDeps {
  accounts: AccountsService;
  quota: QuotaService;
  spool: Spool;
  clock: Clock;
  hostname: string;
  queueTimes: QueueTimes;
  logger: Logger;
  /** submission.received_shows_credential: off unless the operator accepts telling recipients the login. */
  receivedShowsCredential?: boolean;
  /** outbound.allow_private_destinations: off unless this relay may be pointed at internal hosts. */
  allowPrivateDestinations?: boolean;
}

const ok = <T>(value: T): Decision<T> => ({ ok: true, value });

/** The submission rules of Relais: who may send, how much, and what "accepted" means (durably queued). */
export class RelayPolicy implements SubmissionPolicy {
  constructor(private readonly deps: RelayPolicyDeps) {}

  async authenticate(username: string, password: string, _client: ClientInfo): Promise<Decision<AuthenticatedUser>> {
    try {
      const outcome = await this.deps.accounts.authenticate(username, password);
      if (!outcome.ok) return { ok: false, reply: REPLY.authFailed };
      return ok({ credentialId: outcome.credential.id, username: outcome.credential.username });
    } catch (error) {
      this.deps.logger.error({ event: 'store_error', during: 'auth', error: (error as Error).message }, 'store failed during AUTH');
      return { ok: false, reply: REPLY.custom(454, '4.7.0', 'Temporary authentication failure; try again later') };
    }
  }

  async checkSender(user: AuthenticatedUser, _mail: MailArgs): Promise<Decision<void>> {
    try {
      // Re-read each transaction: staff may disable or hold a credential while its sessions are open.
      const credential = await this.deps.accounts.credential(user.username);
      if (!credential.enabled) return { ok: false, reply: REPLY.custom(550, '5.7.1', 'This credential is disabled; contact your provider') };
      // A quota hold is told at RCPT with its own 451 and the time it frees; every other suspension waits for staff.
      if (credential.holdReason && credential.holdReason !== 'quota') {
        const since = credential.holdSince === null ? '' : ` since ${formatUtcDateTime(credential.holdSince)}`;
        return { ok: false, reply: REPLY.custom(550, '5.7.1', `Sending suspended for this account (${credential.holdReason}${since}); contact support`) };
      }
      return ok(undefined);
    } catch (error) {
      return this.storeTrouble('mail', error);
    }
  }

  async addRecipient(user: AuthenticatedUser, ticket: TransactionTicket, rcpt: RcptArgs): Promise<Decision<void>> {
    // Before the quota: a refused literal must not hold a unit. Delivery checks again (MX answers, older queues).
    const literal = addressLiteral(rcpt.domain);
    if (literal === '') return { ok: false, reply: REPLY.badAddressLiteral };
    const range = literal && !this.deps.allowPrivateDestinations ? nonPublicRange(literal) : null;
    if (range) return { ok: false, reply: REPLY.custom(550, '5.7.1', `Delivery to private or loopback address ${rcpt.domain} is not allowed (${range} range)`) };
    try {
      const reservation = await this.deps.quota.reserve(user.credentialId, 1, ticket.reservationId);
      if (reservation.granted) {
        ticket.reservationId = reservation.reservationId;
        ticket.units += 1;
        return ok(undefined);
      }
      if (reservation.reason === 'no_plan') return { ok: false, reply: REPLY.noPlan };
      const when =
        reservation.freesAt === null ? 'the active plans allow fewer' : `next free at ${formatUtcMinute(reservation.freesAt)}`;
      // The quota counts recipients (one unit each), and says so.
      const text = `Sending quota of ${reservation.quota} recipients per ${describeWindow(reservation.windowMs)} reached; ${when}`;
      return { ok: false, reply: REPLY.custom(451, '4.7.1', text) };
    } catch (error) {
      return this.storeTrouble('rcpt', error);
    }
  }

  async abandon(ticket: TransactionTicket): Promise<void> {
    const id = ticket.reservationId;
    ticket.reservationId = undefined;
    ticket.units = 0;
    if (id === undefined) return;
    // Losing a release only holds the units until the reservation expires; it must not break the session.
    await this.deps.quota.release(id).catch((error: Error) => {
      this.deps.logger.warn({ event: 'store_error', during: 'release', error: error.message }, 'could not release a quota reservation');
    });
  }

  async accept(envelope: AcceptedEnvelope, data: Buffer): Promise<Decision<QueuedAs>> {
    const now = this.deps.clock.now();
    const id = newQueueId(now);
    const times = this.deps.queueTimes;
    const body = addTraceHeaders(data, {
      queueId: id,
      hostname: this.deps.hostname,
      heloName: envelope.client.heloName,
      clientIp: envelope.client.ip,
      tls: envelope.client.tls,
      username: this.deps.receivedShowsCredential ? envelope.user.username : null,
      recipients: envelope.recipients.map((r) => r.address),
      at: now,
    });
    try {
      await this.deps.spool.commit({
        id,
        credentialId: envelope.user.credentialId,
        kind: 'message',
        mailFrom: envelope.mail.address,
        envid: envelope.mail.envid,
        ret: envelope.mail.ret,
        clientIp: envelope.client.ip,
        body,
        recipients: envelope.recipients.map((r) => ({ address: r.address, domain: r.domain, orcpt: r.orcpt, notify: r.notify })),
        createdAt: now,
        retryEvery: times.retryEveryMs,
        giveUpAt: now + times.giveUpAfterMs,
        delayNoticeAt: now + times.delayNoticeAfterMs,
        reservationId: envelope.ticket.reservationId ?? null,
        usageBucket: this.deps.quota.usageBucket(now),
      });
      envelope.ticket.reservationId = undefined;
      envelope.ticket.units = 0;
      return ok({ queueId: id, size: body.length });
    } catch (error) {
      return this.storeTrouble('data', error);
    }
  }

  private storeTrouble<T>(during: string, error: unknown): Decision<T> {
    this.deps.logger.error({ event: 'store_error', during, error: (error as Error).message }, 'store failed; client told to retry');
    return { ok: false, reply: REPLY.storeFailed };
  }
}
