import type { SqlDatabase, SqlValue } from './sql.js';

export type ComplaintChannel = 'http' | 'mail';
/** matched: tied to a credential; unmatched: a report about no message found here; unparsed: not an ARF report. */
export type ComplaintStatus = 'matched' | 'unmatched' | 'unparsed';
export type MatchedBy = 'queue-id' | 'message-id';

export interface NewComplaint {
  receivedAt: number;
  channel: ComplaintChannel;
  /** The API token's name, or the SMTP client's address. */
  submittedBy: string;
  /** Envelope recipients of a report received by mail. */
  recipients: string[] | null;
  status: ComplaintStatus;
  feedbackType: string | null;
  userAgent: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string[];
  arrivalDate: string | null;
  sourceIp: string | null;
  reportedDomain: string | null;
  originalMessageId: string | null;
  queueId: string | null;
  credentialId: number | null;
  matchedBy: MatchedBy | null;
  error: string | null;
  reportSha256: string;
  report: Buffer;
}

export interface Complaint extends Omit<NewComplaint, 'report'> {
  id: number;
  username: string | null;
  customer: string | null;
  reportSize: number;
}

/** A queued (or recently delivered) message a complaint points at. */
export interface ComplainedMessage {
  queueId: string;
  credentialId: number;
}

interface ComplaintRow {
  id: number;
  received_at: number;
  channel: string;
  submitted_by: string;
  recipients: string | null;
  status: string;
  feedback_type: string | null;
  user_agent: string | null;
  original_mail_from: string | null;
  original_rcpt_to: string | null;
  arrival_date: string | null;
  source_ip: string | null;
  reported_domain: string | null;
  original_message_id: string | null;
  queue_id: string | null;
  credential_id: number | null;
  matched_by: string | null;
  error: string | null;
  report_sha256: string;
  report_size: number;
  username: string | null;
  customer: string | null;
}

const SELECT = `SELECT p.id, p.received_at, p.channel, p.submitted_by, p.recipients, p.status, p.feedback_type, p.user_agent,
  p.original_mail_from, p.original_rcpt_to, p.arrival_date, p.source_ip, p.reported_domain, p.original_message_id, p.queue_id,
  p.credential_id, p.matched_by, p.error, p.report_sha256, LENGTH(p.report) AS report_size, k.username, c.name AS customer
  FROM complaints p LEFT JOIN credentials k ON k.id = p.credential_id LEFT JOIN customers c ON c.id = k.customer_id`;

const list = (text: string | null): string[] => (text ? (JSON.parse(text) as string[]) : []);

const toComplaint = (r: ComplaintRow): Complaint => ({
  id: Number(r.id),
  receivedAt: Number(r.received_at),
  channel: r.channel as ComplaintChannel,
  submittedBy: r.submitted_by,
  recipients: r.recipients === null ? null : list(r.recipients),
  status: r.status as ComplaintStatus,
  feedbackType: r.feedback_type,
  userAgent: r.user_agent,
  originalMailFrom: r.original_mail_from,
  originalRcptTo: list(r.original_rcpt_to),
  arrivalDate: r.arrival_date,
  sourceIp: r.source_ip,
  reportedDomain: r.reported_domain,
  originalMessageId: r.original_message_id,
  queueId: r.queue_id,
  credentialId: r.credential_id === null ? null : Number(r.credential_id),
  matchedBy: r.matched_by as MatchedBy | null,
  error: r.error,
  reportSha256: r.report_sha256,
  reportSize: Number(r.report_size),
  username: r.username,
  customer: r.customer,
});

/** Complaints (ARF reports) as received, and the lookups that tie them to the message they are about. */
export class ComplaintRecords {
  constructor(private readonly db: SqlDatabase) {}

  async add(c: NewComplaint): Promise<Complaint> {
    const row = await this.db.transaction(
      (tx) =>
        tx.get<{ id: number }>(
          `INSERT INTO complaints (received_at, channel, submitted_by, recipients, status, feedback_type, user_agent, original_mail_from,
             original_rcpt_to, arrival_date, source_ip, reported_domain, original_message_id, queue_id, credential_id, matched_by, error,
             report_sha256, report)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          [
            c.receivedAt,
            c.channel,
            c.submittedBy,
            c.recipients === null ? null : JSON.stringify(c.recipients),
            c.status,
            c.feedbackType,
            c.userAgent,
            c.originalMailFrom,
            c.originalRcptTo.length ? JSON.stringify(c.originalRcptTo) : null,
            c.arrivalDate,
            c.sourceIp,
            c.reportedDomain,
            c.originalMessageId,
            c.queueId,
            c.credentialId,
            c.matchedBy,
            c.error,
            c.reportSha256,
            c.report,
          ],
        ),
      { durable: true },
    );
    return (await this.find(Number(row?.id))) as Complaint;
  }

  async find(id: number): Promise<Complaint | undefined> {
    const row = await this.db.get<ComplaintRow>(`${SELECT} WHERE p.id = ?`, [id]);
    return row && toComplaint(row);
  }

  /** The complaint already made of these exact bytes (a feedback loop retrying, or the same report sent twice). */
  async findByReport(sha256: string): Promise<Complaint | undefined> {
    const row = await this.db.get<ComplaintRow>(`${SELECT} WHERE p.report_sha256 = ? ORDER BY p.id LIMIT 1`, [sha256]);
    return row && toComplaint(row);
  }

  async report(id: number): Promise<Buffer | undefined> {
    const row = await this.db.get<{ report: Buffer }>('SELECT report FROM complaints WHERE id = ?', [id]);
    return row?.report;
  }

  /** Oldest first, or with `newest` the latest `limit` newest first (the console's recent list). */
  async list(filter: { customer?: string; since?: number; limit?: number; newest?: boolean } = {}): Promise<Complaint[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.customer !== undefined) {
      where.push('c.name = ?');
      params.push(filter.customer);
    }
    if (filter.since !== undefined) {
      where.push('p.received_at >= ?');
      params.push(filter.since);
    }
    params.push(filter.limit ?? 10_000);
    const rows = await this.db.all<ComplaintRow>(
      `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${filter.newest ? 'p.received_at DESC, p.id DESC' : 'p.received_at, p.id'} LIMIT ?`,
      params,
    );
    return rows.map(toComplaint);
  }

  /** Complaints of these feedback types tied to a credential since a time: what the suspension policy counts. */
  async countMatched(credentialId: number, since: number, feedbackTypes: readonly string[]): Promise<number> {
    const row = await this.db.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM complaints WHERE credential_id = ? AND status = 'matched' AND received_at >= ?
         AND feedback_type IN (${feedbackTypes.map(() => '?').join(', ')})`,
      [credentialId, since, ...feedbackTypes],
    );
    return Number(row?.n ?? 0);
  }

  /** A message sent by a credential, by queue id (notices belong to no credential and are not complaints' business). */
  async messageByQueueId(queueId: string): Promise<ComplainedMessage | undefined> {
    const row = await this.db.get<{ id: string; credential_id: number }>(
      'SELECT id, credential_id FROM messages WHERE id = ? AND credential_id IS NOT NULL',
      [queueId],
    );
    return row && { queueId: row.id, credentialId: Number(row.credential_id) };
  }

  /** Messages sent by credentials with this Message-ID, newest first (a few: a Message-ID may be reused). */
  async messagesByMessageId(messageId: string): Promise<ComplainedMessage[]> {
    const rows = await this.db.all<{ id: string; credential_id: number }>(
      'SELECT id, credential_id FROM messages WHERE header_message_id = ? AND credential_id IS NOT NULL ORDER BY created_at DESC LIMIT 20',
      [messageId],
    );
    return rows.map((r) => ({ queueId: r.id, credentialId: Number(r.credential_id) }));
  }
}
