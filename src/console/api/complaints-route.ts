import type { FastifyInstance } from 'fastify';
import type { ComplaintService } from '../../reputation/complaints.js';
import { complaintJson } from '../views/complaints.js';
import { requestToken, requireToken } from './api-auth.js';
import { sendError } from './api-errors.js';
import type { ApiTokenService } from './api-tokens.js';

export interface ComplaintsRouteDeps {
  tokens: ApiTokenService;
  complaints: ComplaintService;
  maxReportSize: number;
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
