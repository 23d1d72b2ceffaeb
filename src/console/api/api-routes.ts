import net from 'node:net';
import { z } from 'zod';
import { parseDay } from '../../accounts/validation.js';
import type { RelaisConfig } from '../../config/schema.js';
import { liftedByStaff, SUSPENSION_REASONS } from '../../reputation/suspensions.js';
import { addCredential, addCustomer, addPlan, newCredentialSchema, newPasswordSchema, newPlanSchema, newSmtpPassword } from '../actions/accounts.js';
import { downgradeSubscription, subscribe, upgradeResultSchema, upgradeSubscription, validateRenewal, validateResultSchema } from '../actions/subscriptions.js';
import { listRenewals, listSubscriptions, renewalOrderSchema, showSubscription, subscriptionSchema } from '../views/subscriptions.js';
import { deleteMessage, deleteResultSchema, retryMessage, retryResultSchema } from '../actions/queue.js';
import {
  refuseReinstatement,
  refuseResultSchema,
  reinstateCredential,
  reinstateResultSchema,
  releaseHeldMail,
  releaseResultSchema,
  suspendCredential,
  suspendResultSchema,
} from '../actions/suspensions.js';
import { auditEntrySchema, listAudit } from '../views/audit.js';
import { chargesSchema, listCharges } from '../views/charges.js';
import { complaintJson, complaintSchema, listComplaints } from '../views/complaints.js';
import { credentialDetailSchema, credentialSchema, listCredentials, listPlans, planSchema, showCredential } from '../views/credentials.js';
import { customerDetailSchema, customerSchema, listCustomers, showCustomer } from '../views/customers.js';
import { ipEventSchema, listOutboundIps, outboundIpHistory, outboundIpSchema } from '../views/outbound-ips.js';
import { messageDetailSchema, messageSchema, queueShape, RECIPIENT_STATES, searchMessages, shapeSchema, showMessage } from '../views/queue.js';
import { domainCheck, domainCheckSchema, senderDomains, senderDomainSchema } from '../views/sender-domains.js';
import { credentialHistory, historyEventSchema, listSuspended, suspendedCredentialSchema } from '../views/suspensions.js';
import { credentialUsage, usageSchema } from '../views/usage.js';
import { ApiProblem, route, type ApiRoute } from './route-table.js';

// ---- input fields: each error names the field (api-v1.ts prefixes it with params., query. or body.) ----------

const printable = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\x00-\x1f\x7f]*$/, 'must be one line of printable text');
const note = printable(2000).describe('why, for the history staff and the customer read');
const username = z.string().min(1).max(128).describe('a credential\'s username');
const customerName = z.string().min(1).max(200).describe('a customer\'s name');
const since = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })], { error: 'must be a date (YYYY-MM-DD, UTC) or an ISO 8601 time such as 2026-11-01T09:30:00Z' })
  .transform((text) => (text.length === 10 ? parseDay(text) : Date.parse(text)))
  .describe('only from this date (YYYY-MM-DD, UTC) or ISO 8601 time on');
const limit = (max: number) => z.coerce.number().int().min(1).max(max).optional().describe(`at most this many (1-${max})`);
const flag = z.enum(['true', 'false']).transform((v) => v === 'true');
const STAFF_REASONS = SUSPENSION_REASONS.filter((r) => liftedByStaff(r)) as Exclude<(typeof SUSPENSION_REASONS)[number], 'quota'>[];

const byUsername = z.strictObject({ username });
const byCustomer = z.strictObject({ name: customerName });
const byMessage = z.strictObject({ id: z.string().min(1).max(64).describe('the queue id (as in the 250 reply)') });
const bySubscription = z.strictObject({ subscription: z.coerce.number().int().min(1).describe('the subscription id (relais subscription list)') });
const byOrder = z.strictObject({ order: z.coerce.number().int().min(1).describe('the renewal order id (relais renewal list)') });
const offerName = z.string().min(1).max(40).describe('an offer of the configuration (offers)');
const filterByCustomer = z.strictObject({ customer: customerName.optional(), since: since.optional() });

/** Every /api/v1 route. Customer tokens reach the `any` routes and see only their customer's data there. */
export function apiRoutes(config: RelaisConfig): ApiRoute[] {
  return [
    // ---- customers ----------------------------------------------------------------------------------------
    route({
      method: 'GET', path: '/customers', operationId: 'listCustomers', tag: 'customers', scope: 'any',
      summary: 'Customers (a customer token: its own)',
      response: z.array(customerSchema),
      handler: ({ services, viewer }) => listCustomers(services, viewer),
    }),
    route({
      method: 'POST', path: '/customers', operationId: 'addCustomer', tag: 'customers', scope: 'staff',
      summary: 'Add a customer', body: z.strictObject({ name: customerName, email: z.string().min(3).max(254).describe('contact address') }),
      response: customerSchema, success: [201],
      handler: ({ services, viewer, body }) => addCustomer(services, viewer, 'api', body),
    }),
    route({
      method: 'GET', path: '/customers/{name}', operationId: 'showCustomer', tag: 'customers', scope: 'any',
      summary: 'One customer with its credentials', params: byCustomer,
      response: customerDetailSchema,
      handler: ({ services, viewer, params }) => showCustomer(services, viewer, params.name),
    }),

    // ---- credentials and plans ----------------------------------------------------------------------------
    route({
      method: 'GET', path: '/credentials', operationId: 'listCredentials', tag: 'credentials', scope: 'any',
      summary: 'Credentials, optionally of one customer', query: z.strictObject({ customer: customerName.optional() }), errors: [404],
      response: z.array(credentialSchema),
      handler: ({ services, viewer, query }) => listCredentials(services, viewer, query.customer),
    }),
    route({
      method: 'POST', path: '/credentials', operationId: 'addCredential', tag: 'credentials', scope: 'staff',
      summary: 'Create a credential; the generated password is in this answer only',
      body: z.strictObject({ customer: customerName, username: username.optional() }),
      response: newCredentialSchema, success: [201],
      handler: ({ services, viewer, body }) => addCredential(services, viewer, 'api', body),
    }),
    route({
      method: 'GET', path: '/credentials/{username}', operationId: 'showCredential', tag: 'credentials', scope: 'any',
      summary: 'One credential with its plans and usage', params: byUsername,
      response: credentialDetailSchema,
      handler: ({ services, viewer, params }) => showCredential(services, viewer, params.username),
    }),
    route({
      method: 'GET', path: '/credentials/{username}/plans', operationId: 'listPlans', tag: 'plans', scope: 'any',
      summary: 'A credential\'s plans (active ones add up)', params: byUsername,
      response: z.array(planSchema),
      handler: ({ services, viewer, params }) => listPlans(services, viewer, params.username),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/plans', operationId: 'addPlan', tag: 'plans', scope: 'staff',
      summary: 'Add a plan (stacks on the active ones); starts now unless start is given', params: byUsername,
      body: z.strictObject({
        quota: z.number().int().min(1).describe('recipients per sliding window'),
        days: z.number().int().min(1).optional().describe('length in days (default 365)'),
        until: z.iso.date().optional().describe('last day, included (YYYY-MM-DD)'),
        start: z.iso.date().optional().describe('first day (YYYY-MM-DD; default now)'),
      }),
      response: newPlanSchema, success: [201],
      handler: ({ services, viewer, params, body }) => addPlan(services, viewer, 'api', params.username, body),
    }),
    route({
      method: 'GET', path: '/credentials/{username}/usage', operationId: 'credentialUsage', tag: 'usage', scope: 'any',
      summary: 'Sent over the window against the quota, what remains, when the next unit frees, and hourly counts of the last 24 hours',
      params: byUsername, response: usageSchema,
      handler: ({ services, viewer, params }) => credentialUsage(services, viewer, params.username),
    }),
    route({
      method: 'GET', path: '/credentials/{username}/history', operationId: 'credentialHistory', tag: 'suspensions', scope: 'any',
      summary: 'Everything that happened to a credential: suspensions, reinstatements, refusals, complaints, charges', params: byUsername,
      response: z.array(historyEventSchema),
      handler: ({ services, viewer, params }) => credentialHistory(services, viewer, params.username),
    }),
    route({
      method: 'GET', path: '/credentials/{username}/domains', operationId: 'senderDomains', tag: 'credentials', scope: 'any',
      summary: 'The domains a credential sends from, with blocklist state and DKIM key', params: byUsername,
      response: z.array(senderDomainSchema),
      handler: ({ services, viewer, params }) => senderDomains(services, viewer, params.username),
    }),
    route({
      method: 'GET', path: '/credentials/{username}/domains/{domain}/check', operationId: 'checkSenderDomain', tag: 'credentials', scope: 'any',
      summary: 'SPF, DKIM and DMARC of one of the credential\'s sender domains, looked up in DNS now (as relais domain check)',
      params: z.strictObject({ username, domain: z.string().min(1).max(253).describe('a domain the credential sends from') }),
      response: domainCheckSchema,
      handler: ({ services, viewer, params }) => domainCheck(services, viewer, params.username, params.domain),
    }),

    // ---- suspensions --------------------------------------------------------------------------------------
    route({
      method: 'GET', path: '/suspensions', operationId: 'listSuspended', tag: 'suspensions', scope: 'any',
      summary: 'Credentials suspended now, with the mail each holds',
      response: z.array(suspendedCredentialSchema),
      handler: ({ services, viewer }) => listSuspended(services, viewer),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/suspend', operationId: 'suspendCredential', tag: 'suspensions', scope: 'staff',
      summary: 'Suspend a credential: MAIL FROM is refused, its queued mail is held', params: byUsername,
      body: z.strictObject({ reason: z.enum(STAFF_REASONS).describe('quota suspensions are automatic'), note }),
      response: suspendResultSchema, errors: [409],
      handler: ({ services, viewer, params, body }) => suspendCredential(services, viewer, 'api', params.username, body),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/reinstate', operationId: 'reinstateCredential', tag: 'suspensions', scope: 'staff',
      summary: 'Lift a suspension: held mail is released and the fees recorded (unless waived)', params: byUsername,
      body: z.strictObject({ note, waive_fees: z.boolean().optional().describe('reinstate without charging the fees (recorded as waived)') }),
      response: reinstateResultSchema, errors: [409],
      handler: ({ services, viewer, params, body }) =>
        reinstateCredential(services, viewer, 'api', params.username, { note: body.note, waiveFees: body.waive_fees ?? false }),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/refuse', operationId: 'refuseReinstatement', tag: 'suspensions', scope: 'staff',
      summary: 'Refuse a reinstatement: the credential stays suspended, the refusal is recorded', params: byUsername,
      body: z.strictObject({ note }),
      response: refuseResultSchema, errors: [409],
      handler: ({ services, viewer, params, body }) => refuseReinstatement(services, viewer, 'api', params.username, body),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/release-held', operationId: 'releaseHeldMail', tag: 'queue', scope: 'staff',
      summary: 'Deliver the mail held by a suspension (the suspension itself stays)', params: byUsername,
      body: z.strictObject({ note: note.optional() }),
      response: releaseResultSchema,
      handler: ({ services, viewer, params, body }) => releaseHeldMail(services, viewer, 'api', params.username, { note: body.note ?? null }),
    }),

    // ---- queue --------------------------------------------------------------------------------------------
    route({
      method: 'GET', path: '/queue', operationId: 'searchQueue', tag: 'queue', scope: 'any',
      summary: 'Messages, newest first, searched by recipient, sender, Message-ID or queue id, state, domain, credential',
      query: z.strictObject({
        recipient: z.string().min(1).max(320).optional().describe('a recipient address, whole'),
        sender: z.string().max(320).optional().describe('the envelope sender, whole'),
        message_id: z.string().min(1).max(1000).optional().describe('the Message-ID header (with or without <>), or a queue id'),
        state: z.enum(RECIPIENT_STATES).optional().describe('only messages with a recipient in this state'),
        domain: z.string().min(1).max(253).optional().describe('only messages with a recipient at this domain'),
        credential: username.optional(),
        limit: limit(1000),
      }),
      errors: [404],
      response: z.array(messageSchema),
      handler: ({ services, viewer, query }) =>
        searchMessages(services, viewer, {
          recipient: query.recipient,
          sender: query.sender,
          messageId: query.message_id,
          state: query.state,
          domain: query.domain,
          credential: query.credential,
          limit: query.limit,
        }),
    }),
    route({
      method: 'GET', path: '/queue/shape', operationId: 'queueShape', tag: 'queue', scope: 'staff',
      summary: 'Pending recipients per destination domain by age (qshape)',
      response: shapeSchema,
      handler: ({ services, viewer }) => queueShape(services, viewer),
    }),
    route({
      method: 'GET', path: '/queue/{id}', operationId: 'showMessage', tag: 'queue', scope: 'any',
      summary: 'One message: each recipient\'s state, every attempt and the reply it got', params: byMessage,
      response: messageDetailSchema,
      handler: ({ services, viewer, params }) => showMessage(services, viewer, params.id),
    }),
    route({
      method: 'POST', path: '/queue/{id}/retry', operationId: 'retryMessage', tag: 'queue', scope: 'staff',
      summary: 'Make a message\'s pending recipients due now', params: byMessage,
      response: retryResultSchema,
      handler: ({ services, viewer, params }) => retryMessage(services, viewer, 'api', params.id),
    }),
    route({
      method: 'DELETE', path: '/queue/{id}', operationId: 'deleteMessage', tag: 'queue', scope: 'staff',
      summary: 'Delete a message; with notify=true its sender gets a failure notice for the pending recipients', params: byMessage,
      query: z.strictObject({ notify: flag.optional().describe('true: tell the sender'), note: note.optional() }),
      response: deleteResultSchema,
      handler: ({ services, viewer, params, query }) => deleteMessage(services, viewer, 'api', params.id, { notify: query.notify ?? false, note: query.note ?? null }),
    }),

    // ---- complaints, charges, audit -----------------------------------------------------------------------
    route({
      method: 'GET', path: '/complaints', operationId: 'listComplaints', tag: 'complaints', scope: 'any',
      summary: 'Complaints (ARF reports), oldest first', query: filterByCustomer, errors: [404],
      response: z.array(complaintSchema),
      handler: ({ services, viewer, query }) => listComplaints(services, viewer, query),
    }),
    route({
      method: 'POST', path: '/complaints', operationId: 'receiveComplaint', tag: 'complaints', scope: 'staff',
      summary: 'File an ARF report (the raw message/rfc822 bytes as the body): 201 new, 200 a duplicate of one received before',
      rawBody: { mediaType: 'message/rfc822', maxBytes: config.complaints.max_report_size },
      response: complaintSchema.extend({ duplicate: z.boolean(), suspended: z.boolean() }), success: [201, 200], errors: [413],
      handler: async ({ services, token, raw, status }) => {
        const intake = await services.complaints.receive(raw, { channel: 'http', submittedBy: `token ${token.id} (${token.name})` }, { keepUnparsed: false });
        if (!intake.ok) throw new ApiProblem(400, 'not_a_report', `${intake.error}; send the raw report (message/rfc822) as the request body`);
        if (intake.duplicate) status(200);
        return { ...complaintJson(intake.complaint), duplicate: intake.duplicate, suspended: intake.suspended };
      },
    }),
    route({
      method: 'GET', path: '/charges', operationId: 'listCharges', tag: 'charges', scope: 'any',
      summary: 'Billable events (reinstatement fees, blocklist removal work) with totals per currency', query: filterByCustomer, errors: [404],
      response: chargesSchema,
      handler: ({ services, viewer, query }) => listCharges(services, viewer, query),
    }),
    // ---- subscriptions and renewals -------------------------------------------------------------------------
    route({
      method: 'GET', path: '/subscriptions', operationId: 'listSubscriptions', tag: 'subscriptions', scope: 'any',
      summary: 'Subscriptions with their terms and the renewal order of the next term (a customer token: its own)',
      response: z.array(subscriptionSchema),
      handler: ({ services, viewer }) => listSubscriptions(services, viewer),
    }),
    route({
      method: 'POST', path: '/subscriptions', operationId: 'subscribe', tag: 'subscriptions', scope: 'staff',
      summary: 'Subscribe a credential to an offer: its term starts now, its quota is added, the parameter sheet is mailed',
      body: z.strictObject({ credential: username, offer: offerName }),
      response: subscriptionSchema, success: [201], errors: [404],
      handler: ({ services, viewer, body }) => subscribe(services, viewer, 'api', body),
    }),
    route({
      method: 'GET', path: '/subscriptions/{subscription}', operationId: 'showSubscription', tag: 'subscriptions', scope: 'any',
      summary: 'One subscription', params: bySubscription,
      response: subscriptionSchema,
      handler: ({ services, viewer, params }) => showSubscription(services, viewer, params.subscription),
    }),
    route({
      method: 'POST', path: '/subscriptions/{subscription}/upgrade', operationId: 'upgradeSubscription', tag: 'subscriptions', scope: 'staff',
      summary: 'Move to a bigger offer at once; the price difference for the rest of the term is charged', params: bySubscription,
      body: z.strictObject({ offer: offerName }),
      response: subscriptionSchema.extend(upgradeResultSchema.shape),
      handler: ({ services, viewer, params, body }) => upgradeSubscription(services, viewer, 'api', params.subscription, body.offer),
    }),
    route({
      method: 'POST', path: '/subscriptions/{subscription}/downgrade', operationId: 'downgradeSubscription', tag: 'subscriptions', scope: 'staff',
      summary: 'Ask for a smaller offer from the next term (refused inside lifecycle.downgrade_notice before the end date)', params: bySubscription,
      body: z.strictObject({ offer: offerName }),
      response: subscriptionSchema,
      handler: ({ services, viewer, params, body }) => downgradeSubscription(services, viewer, 'api', params.subscription, body.offer),
    }),
    route({
      method: 'GET', path: '/renewals', operationId: 'listRenewals', tag: 'subscriptions', scope: 'any',
      summary: 'Renewal orders (renewal is never automatic)', query: z.strictObject({ open: flag.optional().describe('only those not validated yet') }),
      response: z.array(renewalOrderSchema),
      handler: ({ services, viewer, query }) => listRenewals(services, viewer, query.open ?? false),
    }),
    route({
      method: 'POST', path: '/renewals/{order}/validate', operationId: 'validateRenewal', tag: 'subscriptions', scope: 'staff',
      summary: 'Validate a paid renewal order: the next term is secured; after the end date the credential is reinstated with the late fee',
      params: byOrder,
      response: validateResultSchema,
      handler: ({ services, viewer, params }) => validateRenewal(services, viewer, 'api', params.order),
    }),
    route({
      method: 'POST', path: '/credentials/{username}/password', operationId: 'newSmtpPassword', tag: 'credentials', scope: 'any',
      summary: 'A new generated SMTP password (a customer token: for its own credentials); shown in this answer only',
      params: byUsername,
      response: newPasswordSchema,
      handler: ({ services, viewer, params }) => newSmtpPassword(services, viewer, 'api', params.username),
    }),

    route({
      method: 'GET', path: '/audit', operationId: 'listAudit', tag: 'audit', scope: 'staff',
      summary: 'Staff actions from the CLI, the console and the API, newest first',
      query: z.strictObject({ since: since.optional(), action: z.string().min(1).max(100).optional().describe('e.g. credential.suspend'), limit: limit(5000) }),
      response: z.array(auditEntrySchema),
      handler: ({ services, viewer, query }) => listAudit(services, viewer, query),
    }),

    // ---- outbound addresses -------------------------------------------------------------------------------
    route({
      method: 'GET', path: '/ips', operationId: 'listOutboundIps', tag: 'outbound addresses', scope: 'staff',
      summary: 'Each outbound address: blocklist state, avoidances, mail sent over 24 h, last error',
      response: z.array(outboundIpSchema),
      handler: ({ services, viewer }) => listOutboundIps(services, viewer),
    }),
    route({
      method: 'GET', path: '/ips/{address}/history', operationId: 'outboundIpHistory', tag: 'outbound addresses', scope: 'staff',
      summary: 'Every listing and delisting of an outbound address, oldest first',
      params: z.strictObject({ address: z.string().refine((a) => net.isIP(a) !== 0, 'must be an IP address').describe('an IPv4 or IPv6 address') }),
      response: z.array(ipEventSchema),
      handler: ({ services, viewer, params }) => outboundIpHistory(services, viewer, params.address),
    }),
  ];
}
