import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Complaint } from '../../store/complaints.js';
import type { Viewer } from '../viewer.js';
import { isoAt, isoSchema, visibleCustomer } from './scope.js';

export const complaintSchema = z.object({
  id: z.number().int(),
  received_at: isoSchema,
  channel: z.enum(['http', 'mail']),
  status: z.enum(['matched', 'unmatched', 'unparsed']),
  feedback_type: z.string().nullable(),
  user_agent: z.string().nullable(),
  original_mail_from: z.string().nullable(),
  original_rcpt_to: z.array(z.string()),
  arrival_date: z.string().nullable(),
  source_ip: z.string().nullable(),
  original_message_id: z.string().nullable(),
  queue_id: z.string().nullable(),
  matched_by: z.enum(['queue-id', 'message-id']).nullable(),
  credential: z.string().nullable(),
  customer: z.string().nullable(),
  problem: z.string().nullable(),
});
export type ComplaintView = z.infer<typeof complaintSchema>;

/** The JSON form of a complaint: `POST /complaints` answers it, listings show it, `relais complaints --json` prints it. */
export function complaintJson(c: Complaint): ComplaintView {
  return {
    id: c.id,
    received_at: isoAt(c.receivedAt),
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
 * Complaints, oldest first. A customer viewer sees those tied to its credentials only (never the unmatched
 * ones, which may be about anyone's mail); staff see all, or one customer's.
 */
export async function listComplaints(services: Services, viewer: Viewer, filter: { customer?: string; since?: number } = {}): Promise<ComplaintView[]> {
  let customer = filter.customer;
  if (customer !== undefined) customer = (await visibleCustomer(services, viewer, customer)).name;
  else if (viewer.role === 'customer') {
    const own = (await services.store.listCustomers()).find((c) => c.id === viewer.customerId);
    if (!own) return [];
    customer = own.name;
  }
  return (await services.complaints.list({ customer, since: filter.since })).map(complaintJson);
}
