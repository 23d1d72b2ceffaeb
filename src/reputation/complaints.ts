import crypto from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { Complaint, ComplaintChannel, ComplainedMessage, MatchedBy, NewComplaint } from '../store/complaints.js';
import type { Store } from '../store/store.js';
import { parseArfReport, type ArfReport } from './arf-report.js';
import type { SuspensionService } from './suspensions.js';

/**
 * Feedback types that are complaints about the mail. not-spam (a user taking a complaint back) and auth-failure
 * (RFC 6591 reports on SPF/DKIM failures, about the domain's set-up) are recorded but count toward nothing.
 */
export const COUNTED_FEEDBACK_TYPES = ['abuse', 'fraud', 'virus', 'other'] as const;

/** History events after which earlier complaints no longer count: staff has looked at them and lifted the hold. */
export const REINSTATEMENT_KINDS = ['reinstated'];

export interface ComplaintPolicy {
  /** abuse.complaints_to_suspend; 0 never suspends. */
  complaintsToSuspend: number;
  /** abuse.complaint_window. */
  windowMs: number;
}

export interface ComplaintSource {
  channel: ComplaintChannel;
  /** The API token's name, or the SMTP client's address. */
  submittedBy: string;
  /** Envelope recipients of a report that came by mail. */
  recipients?: string[];
}

export type ComplaintIntake =
  | { ok: true; complaint: Complaint; duplicate: boolean; suspended: boolean }
  | { ok: false; error: string };

interface Match {
  message: ComplainedMessage | null;
  matchedBy: MatchedBy | null;
  problem: string | null;
}

/**
 * Complaints from feedback loops: each ARF report is recorded, tied to the message and so to the credential that
 * sent it, written in that credential's history, and past abuse.complaints_to_suspend it suspends the credential.
 * Nothing received is dropped: a report that ties to nothing is kept for staff, and by mail (where no one reads
 * an error) even a message that is not a report.
 */
export class ComplaintService {
  constructor(
    private readonly store: Store,
    private readonly suspensions: SuspensionService,
    private readonly clock: Clock,
    private readonly policy: ComplaintPolicy,
    private readonly logger: Logger,
  ) {}

  /** `keepUnparsed`: record what is not a report (mail) instead of answering the error (HTTP). */
  async receive(raw: Buffer, source: ComplaintSource, options: { keepUnparsed: boolean }): Promise<ComplaintIntake> {
    const sha256 = crypto.createHash('sha256').update(raw).digest('hex');
    const earlier = await this.store.complaints.findByReport(sha256);
    if (earlier) {
      this.logger.info({ event: 'complaint_duplicate', complaint: earlier.id, channel: source.channel, by: source.submittedBy }, 'the same report again; recorded once');
      return { ok: true, complaint: earlier, duplicate: true, suspended: false };
    }
    const parsed = parseArfReport(raw);
    const base = {
      receivedAt: this.clock.now(),
      channel: source.channel,
      submittedBy: source.submittedBy,
      recipients: source.recipients ?? null,
      reportSha256: sha256,
      report: raw,
    };
    if (!parsed.ok) {
      if (!options.keepUnparsed) return parsed;
      const complaint = await this.store.complaints.add({ ...base, ...NO_REPORT, status: 'unparsed', error: parsed.error });
      this.logger.warn(
        { event: 'complaint_unparsed', complaint: complaint.id, channel: source.channel, by: source.submittedBy, recipients: source.recipients, error: parsed.error },
        'mail to the complaints address is not an ARF report; recorded, nobody suspended',
      );
      return { ok: true, complaint, duplicate: false, suspended: false };
    }
    const report = parsed.report;
    const match = await this.match(report);
    const complaint = await this.store.complaints.add({
      ...base,
      status: match.message ? 'matched' : 'unmatched',
      feedbackType: report.feedbackType,
      userAgent: report.userAgent,
      originalMailFrom: report.originalMailFrom,
      originalRcptTo: report.originalRcptTo,
      arrivalDate: report.arrivalDate,
      sourceIp: report.sourceIp,
      reportedDomain: report.reportedDomain,
      originalMessageId: report.messageId,
      queueId: match.message?.queueId ?? report.queueIds[0] ?? null,
      credentialId: match.message?.credentialId ?? null,
      matchedBy: match.matchedBy,
      error: match.problem,
    });
    this.logger.warn(
      {
        event: 'complaint',
        complaint: complaint.id,
        channel: source.channel,
        by: source.submittedBy,
        status: complaint.status,
        feedback_type: complaint.feedbackType,
        queue_id: complaint.queueId,
        matched_by: complaint.matchedBy,
        credential: complaint.username,
        problem: complaint.error,
      },
      complaint.status === 'matched' ? 'complaint received' : 'complaint about no message of this relay',
    );
    const suspended = complaint.credentialId !== null && (await this.apply(complaint, complaint.credentialId));
    return { ok: true, complaint, duplicate: false, suspended };
  }

  list(filter: { customer?: string; since?: number; limit?: number; newest?: boolean } = {}): Promise<Complaint[]> {
    return this.store.complaints.list(filter);
  }

  private async match(report: ArfReport): Promise<Match> {
    for (const queueId of report.queueIds) {
      const message = await this.store.complaints.messageByQueueId(queueId);
      if (message) return { message, matchedBy: 'queue-id', problem: null };
    }
    const problems: string[] = [];
    if (report.queueIds.length) {
      problems.push(`queue id ${report.queueIds.join(', ')} is not in the store (purged after delivery.keep_log_for, or not sent here)`);
    }
    if (report.messageId) {
      const messages = await this.store.complaints.messagesByMessageId(report.messageId);
      const credentials = new Set(messages.map((m) => m.credentialId));
      if (credentials.size === 1) return { message: messages[0] as ComplainedMessage, matchedBy: 'message-id', problem: null };
      // Attributing a reused Message-ID to one of its senders could suspend the wrong customer.
      if (credentials.size > 1) problems.push(`Message-ID ${report.messageId} was sent by ${credentials.size} credentials: not attributed`);
      else problems.push(`no message with Message-ID ${report.messageId}`);
    }
    if (!report.hasOriginal) problems.push('the report carries no copy of the reported message (text/rfc822-headers or message/rfc822)');
    else if (!report.queueIds.length && !report.messageId) problems.push("the reported message has neither Relais's Received field nor a Message-ID");
    return { message: null, matchedBy: null, problem: problems.join('; ') };
  }

  /** Writes the complaint in the credential's history and suspends it when the policy says so. */
  private async apply(complaint: Complaint, credentialId: number): Promise<boolean> {
    const feedbackType = complaint.feedbackType ?? '';
    if (!(COUNTED_FEEDBACK_TYPES as readonly string[]).includes(feedbackType)) return false;
    const detail = { complaintId: complaint.id, feedbackType, queueId: complaint.queueId, matchedBy: complaint.matchedBy, channel: complaint.channel };
    await this.suspensions.record(credentialId, 'complaint', {
      note: `${feedbackType} report${complaint.userAgent ? ` from ${complaint.userAgent}` : ''} about message ${complaint.queueId}`,
      detail,
    });
    const threshold = this.policy.complaintsToSuspend;
    if (threshold === 0) return false;
    const now = this.clock.now();
    const reinstated = await this.store.history.list(credentialId, { kinds: REINSTATEMENT_KINDS });
    const since = Math.max(now - this.policy.windowMs, reinstated.length ? (reinstated[reinstated.length - 1] as { at: number }).at : 0);
    const count = await this.store.complaints.countMatched(credentialId, since, COUNTED_FEEDBACK_TYPES);
    if (count < threshold) return false;
    const event = await this.suspensions.suspend(credentialId, 'complaint', {
      note: `${count} complaint(s) since ${new Date(since).toISOString()} (abuse.complaints_to_suspend: ${threshold})`,
      detail: { complaintId: complaint.id, feedbackType },
    });
    if (event) {
      this.logger.warn({ event: 'credential_suspended', credential: complaint.username, reason: 'complaint', complaint: complaint.id, complaints: count }, 'credential suspended after complaints');
    }
    return event !== null;
  }
}

const NO_REPORT: Omit<NewComplaint, 'receivedAt' | 'channel' | 'submittedBy' | 'recipients' | 'status' | 'error' | 'reportSha256' | 'report'> = {
  feedbackType: null,
  userAgent: null,
  originalMailFrom: null,
  originalRcptTo: [],
  arrivalDate: null,
  sourceIp: null,
  reportedDomain: null,
  originalMessageId: null,
  queueId: null,
  credentialId: null,
  matchedBy: null,
};
