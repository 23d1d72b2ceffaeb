import type { AccountsService } from '../accounts/accounts-service.js';
import type { ScanVerdict, VirusScanner } from '../antivirus/virus-scanner.js';
import type { Logger } from '../log/logger.js';
import { newQueueId } from '../queue/queue-id.js';
import type { Spool } from '../queue/spool.js';
import type { QuotaService } from '../quota/quota-service.js';
import { fromHeaderDomains, senderDomain } from '../reputation/sender-domains.js';
import type { SuspensionService } from '../reputation/suspensions.js';
import type { Clock } from '../shared/clock.js';
import { addressLiteral, nonPublicRange } from '../shared/private-address.js';
import { describeWindow, formatUtcDateTime, formatUtcMinute } from '../shared/time-format.js';
import type { MailArgs, RcptArgs } from './envelope-parser.js';
import { addTraceHeaders, headerValue, messageIdOf } from './message-headers.js';
import type { AcceptedEnvelope, AuthenticatedUser, ClientInfo, Decision, QueuedAs, SubmissionPolicy, TransactionTicket } from './policy.js';
import { REPLY, type Reply } from './replies.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';

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
  /** Told the domains of each accepted message (envelope sender, From header), for blocklist checks. */
  senderDomains?: { seen(credentialId: number, domains: readonly string[]): void };
  /** DKIM signing of mail whose From domain has a key (src/sender-auth/message-signer.ts). */
  signer?: { sign(message: Buffer): Promise<Buffer> };
  /**
   * A quota release that failed because the store was unreachable is tried again this often (queue.scan_interval),
   * until the reservation would have expired anyway (releaseRetryUntilMs, quota.reservation_ttl). 0: not retried.
   */
  releaseRetryMs?: number;
  releaseRetryUntilMs?: number;
  /** Absent when antivirus.clamd is not set. */
  antivirus?: { scanner: VirusScanner; onError: 'tempfail' | 'accept'; suspensions: SuspensionService; clamd: string };
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
      return { ok: false, reply: REPLY.refusal('store_error', 454, '4.7.0', 'Temporary authentication failure; try again later') };
    }
  }

  async checkSender(user: AuthenticatedUser, _mail: MailArgs): Promise<Decision<void>> {
    try {
      // Re-read each transaction: staff may disable or hold a credential while its sessions are open.
      const credential = await this.deps.accounts.credential(user.username);
      if (!credential.enabled) return { ok: false, reply: REPLY.refusal('disabled', 550, '5.7.1', 'This credential is disabled; contact your provider') };
      // A quota hold is told at RCPT with its own 451 and the time it frees; every other suspension waits for staff.
      if (credential.holdReason && credential.holdReason !== 'quota') {
        const since = credential.holdSince === null ? '' : ` since ${formatUtcDateTime(credential.holdSince)}`;
        return { ok: false, reply: REPLY.refusal('suspended', 550, '5.7.1', `Sending suspended for this account (${credential.holdReason}${since}); contact support`) };
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
    if (range) return { ok: false, reply: REPLY.refusal('private_destination', 550, '5.7.1', `Delivery to private or loopback address ${rcpt.domain} is not allowed (${range} range)`) };
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
      return { ok: false, reply: REPLY.refusal('quota', 451, '4.7.1', text) };
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
      // Every transaction refused during a store outage leaves one behind: released once the store is back,
      // so the customer's quota is not short by them until they expire.
      if (isStoreUnavailable(error) && this.deps.releaseRetryMs) this.releaseLater(id, this.deps.clock.now() + (this.deps.releaseRetryUntilMs ?? 0));
    });
  }

  private releaseLater(id: number, giveUpAt: number): void {
    const retryMs = this.deps.releaseRetryMs as number;
    const timer = setTimeout(() => {
      this.deps.quota.release(id).catch((error: Error) => {
        if (isStoreUnavailable(error) && this.deps.clock.now() + retryMs < giveUpAt) this.releaseLater(id, giveUpAt);
      });
    }, retryMs);
    // The reservation expires by itself: a pending retry must not keep a stopping process alive.
    timer.unref();
  }

  async accept(envelope: AcceptedEnvelope, data: Buffer): Promise<Decision<QueuedAs>> {
    let scanHeader: string | null = null;
    if (this.deps.antivirus) {
      const scanned = await this.checkForViruses(envelope, data, this.deps.antivirus);
      if (!scanned.ok) return scanned;
      scanHeader = scanned.value;
    }
    const now = this.deps.clock.now();
    const id = newQueueId(now);
    const times = this.deps.queueTimes;
    const content = scanHeader === null ? data : Buffer.concat([Buffer.from(`X-Relais-Virus-Scan: ${scanHeader}\r\n`, 'latin1'), data]);
    let body = addTraceHeaders(content, {
      queueId: id,
      hostname: this.deps.hostname,
      heloName: envelope.client.heloName,
      clientIp: envelope.client.ip,
      tls: envelope.client.tls,
      username: this.deps.receivedShowsCredential ? envelope.user.username : null,
      recipients: envelope.recipients.map((r) => r.address),
      at: now,
    });
    if (this.deps.signer) {
      // After the trace headers, so a Message-ID or Date the relay added is signed too; Received never is.
      try {
        body = await this.deps.signer.sign(body);
      } catch (error) {
        // Sending it unsigned could get it rejected under the domain's DMARC policy: the client retries instead.
        this.deps.logger.error({ event: 'dkim_error', queue_id: id, error: (error as Error).message }, 'DKIM signing failed; client told to retry');
        return { ok: false, reply: REPLY.dkimFailed };
      }
    }
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
        headerMessageId: messageIdOf(body),
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
      this.noteSenderDomains(envelope, data);
      return ok({ queueId: id, size: body.length });
    } catch (error) {
      return this.storeTrouble('data', error);
    }
  }

  private noteSenderDomains(envelope: AcceptedEnvelope, data: Buffer): void {
    if (!this.deps.senderDomains) return;
    const domains = new Set(fromHeaderDomains(data));
    const envelopeDomain = senderDomain(envelope.mail.address);
    if (envelopeDomain) domains.add(envelopeDomain);
    this.deps.senderDomains.seen(envelope.user.credentialId, [...domains]);
  }

  /**
   * Scans the message as the client sent it, before anything is queued. Returns the X-Relais-Virus-Scan header
   * value the message must carry (null when it was scanned whole), or the reply refusing it.
   */
  private async checkForViruses(
    envelope: AcceptedEnvelope,
    data: Buffer,
    antivirus: NonNullable<RelayPolicyDeps['antivirus']>,
  ): Promise<Decision<string | null>> {
    const verdict: ScanVerdict = await antivirus.scanner.scan(data);
    const log = { credential: envelope.user.username, client_ip: envelope.client.ip, size: data.length };
    switch (verdict.kind) {
      case 'clean':
        return ok(verdict.partial ? `partly scanned (first ${verdict.scannedBytes} bytes)` : null);
      case 'too_big':
        this.deps.logger.info({ event: 'virus_scan_refused', ...log, max_size: verdict.maxSize }, 'message too big to scan; refused');
        return { ok: false, reply: REPLY.refusal('message_too_big', 552, '5.3.4', `Message size exceeds the virus scanning limit of ${verdict.maxSize} bytes`) };
      case 'failed': {
        const accepted = antivirus.onError === 'accept';
        this.deps.logger.warn(
          { event: 'virus_scan_failed', ...log, clamd: antivirus.clamd, error: verdict.reason, action: accepted ? 'accepted unscanned' : 'tempfail' },
          'virus scan failed',
        );
        if (accepted) return ok('not scanned');
        return { ok: false, reply: REPLY.refusal('virus_scan_failed', 451, '4.3.0', `Virus scan failed (${verdict.reason}); message not accepted, try again later`) };
      }
      case 'infected':
        return { ok: false, reply: await this.virusFound(envelope, data, verdict.signature, antivirus.suspensions) };
    }
  }

  private async virusFound(envelope: AcceptedEnvelope, data: Buffer, found: string, suspensions: SuspensionService): Promise<Reply> {
    // The name comes from clamd's database: kept to printable ASCII before it goes into a reply and a log.
    const signature = found.replace(/[^\x21-\x7e]/g, '?').slice(0, 200);
    const messageId = headerValue(data, 'message-id');
    this.deps.logger.warn(
      { event: 'virus_found', credential: envelope.user.username, client_ip: envelope.client.ip, signature, header_message_id: messageId },
      'virus found; message refused',
    );
    try {
      await suspensions.record(envelope.user.credentialId, 'virus', {
        note: `message refused at submission from ${envelope.client.ip}`,
        detail: { signature, ...(messageId ? { messageId } : {}), clientIp: envelope.client.ip, recipients: envelope.recipients.length },
      });
    } catch (error) {
      // The refusal stands: nothing was queued. Only the history lost a line, which the log keeps.
      this.deps.logger.error({ event: 'store_error', during: 'virus_event', error: (error as Error).message }, 'could not record the virus find in the credential history');
    }
    return REPLY.refusal('virus', 554, '5.7.1', `Message refused: virus found (${signature})`);
  }

  private storeTrouble<T>(during: string, error: unknown): Decision<T> {
    this.deps.logger.error({ event: 'store_error', during, error: (error as Error).message }, 'store failed; client told to retry');
    return { ok: false, reply: REPLY.storeFailed };
  }
}
