import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import type { Services } from '../../../services.js';
import { chargesPage } from './charges-page.js';
import { credentialRoutes } from './credential-routes.js';
import { subscriptionsPage } from './subscriptions-page.js';
import { complaintsPage } from './complaints-page.js';
import { domainPage, domainsPage } from './domains-page.js';
import { messagePage } from './message-page.js';
import { messagesPage, type MessageSearchFields } from './messages-page.js';

/**
 * The pages a customer has besides `/` (messages, domains, complaints, charges). They serve staff too, every
 * customer's rows with a customer column: each page reads through a view scoped by the viewer.
 */
export function customerPageRoutes(app: FastifyInstance, services: Services, signedIn: preHandlerHookHandler): void {
  app.get<{ Querystring: MessageSearchFields }>('/messages', { preHandler: signedIn }, (request, reply) => messagesPage(request, reply, services));
  app.get<{ Params: { queueId: string } }>('/messages/:queueId', { preHandler: signedIn }, (request, reply) => messagePage(request, reply, services));
  app.get('/domains', { preHandler: signedIn }, (request, reply) => domainsPage(request, reply, services));
  app.get<{ Params: { domain: string } }>('/domains/:domain', { preHandler: signedIn }, (request, reply) => domainPage(request, reply, services));
  app.get('/complaints', { preHandler: signedIn }, (request, reply) => complaintsPage(request, reply, services));
  app.get('/charges', { preHandler: signedIn }, (request, reply) => chargesPage(request, reply, services));
  app.get('/subscriptions', { preHandler: signedIn }, (request, reply) => subscriptionsPage(request, reply, services));
  credentialRoutes(app, services, signedIn);
}
