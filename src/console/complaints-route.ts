import type { FastifyInstance } from 'fastify';
import type { ComplaintService } from '../reputation/complaints.js';
import type { Complaint } from '../store/complaints.js';
import { requestToken, requireToken } from './api-auth.js';
import { sendError } from './api-errors.js';
import type { ApiTokenService } from './api-tokens.js';

export interface ComplaintsRouteDeps {
  tokens: ApiTokenService;
  complaints: ComplaintService;
  maxReportSize: number;
}

/** The JSON form of a complaint, as `POST /complaints` answers it (and as a listing would show it). */
export function complaintJson(c: Complaint) {
  return {
    id: c.id,
    received_at: new Date(c.receivedAt).toISOString(),
    channel: c.channel,
    status: c.status,
    feedback_type: c.feedbackType,
    user_agent: c.userAgent,
    original_mail_from: c.originalMailFrom,
    original_rcpt_to: c.originalRcptTo,
    arrival_date: c.arrivalDate,
    source_ip: c.sourceIp,
    original_message_id: c.originalMessageId,
    queue_id: c.queueId,
    matched_by: c.matchedBy,
    credential: c.username,
    customer: c.customer,
    problem: c.error,
  };
}

/**
 * `POST /complaints`: the body is the raw ARF report (message/rfc822 bytes, whatever the Content-Type says).
 * Staff tokens only: a customer token could otherwise file complaints against other customers.
 */
export async function complaintsRoute(app: FastifyInstance, deps: ComplaintsRouteDeps): Promise<void> {
  // Every body is the report as bytes, whatever the Content-Type (feedback loops and curl send many).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxReportSize }, (_request, body, done) => done(null, body));
  app.post('/complaints', { onRequest: requireToken(deps.tokens, 'staff'), bodyLimit: deps.maxReportSize }, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const token = requestToken(request);
    const intake = await deps.complaints.receive(body, { channel: 'http', submittedBy: `token ${token.id} (${token.name})` }, { keepUnparsed: false });
    if (!intake.ok) return sendError(reply, 400, 'not_a_report', `${intake.error}; send the raw report (message/rfc822) as the request body`);
    return reply.code(intake.duplicate ? 200 : 201).send({ ...complaintJson(intake.complaint), duplicate: intake.duplicate, suspended: intake.suspended });
  });
}
