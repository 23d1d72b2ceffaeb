import type { Logger } from '../log/logger.js';
import type { MailArgs, RcptArgs } from '../submission/envelope-parser.js';
import type { AcceptedEnvelope, AuthenticatedUser, ClientInfo, Decision, QueuedAs, SubmissionPolicy, TransactionTicket } from '../submission/policy.js';
import { REPLY } from '../submission/replies.js';
import type { ComplaintService } from './complaints.js';

/** Who a client of listen.inbound is: nobody in particular (no AUTH there); never a credential. */
export const INBOUND_CLIENT: AuthenticatedUser = Object.freeze({ credentialId: 0, username: '(inbound)' });

/**
 * The rules of listen.inbound: mail for the relay's own addresses only (complaints.address and
 * postmaster@hostname), from anyone, and never relayed nor queued: what is accepted is recorded as a complaint
 * (an ARF report) or, when it is not one, kept as an unparsed report for staff. Every other recipient, however
 * it is written (percent hack, bang path, source route, quoted local part, address literal), gets 550 5.7.1.
 */
export class InboundPolicy implements SubmissionPolicy {
  private readonly own: Set<string>;

  constructor(
    private readonly deps: { complaints: ComplaintService; complaintsAddress: string | undefined; hostname: string; logger: Logger },
  ) {
    this.own = new Set([`postmaster@${deps.hostname.toLowerCase().replace(/\.$/, '')}`]);
    if (deps.complaintsAddress) this.own.add(deps.complaintsAddress.toLowerCase());
  }

  async authenticate(_username: string, _password: string, _client: ClientInfo): Promise<Decision<AuthenticatedUser>> {
    return { ok: false, reply: REPLY.authNotOffered };
  }

  async checkSender(_user: AuthenticatedUser, _mail: MailArgs): Promise<Decision<void>> {
    // Feedback loops send from their own addresses or the null sender: nothing to check, nothing goes back.
    return { ok: true, value: undefined };
  }

  async addRecipient(_user: AuthenticatedUser, _ticket: TransactionTicket, rcpt: RcptArgs): Promise<Decision<void>> {
    // Compared whole and exactly (case aside): "abuse%x@relay", "x!abuse@relay" or "\"abuse@relay\"@relay" are other mailboxes.
    if (this.own.has(rcpt.address.toLowerCase())) return { ok: true, value: undefined };
    return { ok: false, reply: REPLY.custom(550, '5.7.1', `Relay access denied: this server takes mail only for the relay's own addresses (${[...this.own].join(', ')})`) };
  }

  async abandon(_ticket: TransactionTicket): Promise<void> {}

  async accept(envelope: AcceptedEnvelope, data: Buffer): Promise<Decision<QueuedAs>> {
    try {
      const intake = await this.deps.complaints.receive(
        data,
        { channel: 'mail', submittedBy: `smtp ${envelope.client.ip} (${envelope.client.heloName.slice(0, 100)})`, recipients: envelope.recipients.map((r) => r.address) },
        { keepUnparsed: true },
      );
      if (!intake.ok) throw new Error(intake.error);
      return { ok: true, value: { queueId: `complaint-${intake.complaint.id}`, size: data.length } };
    } catch (error) {
      this.deps.logger.error({ event: 'store_error', during: 'complaint', error: (error as Error).message }, 'could not record mail to the relay; client told to retry');
      return { ok: false, reply: REPLY.storeFailed };
    }
  }
}
