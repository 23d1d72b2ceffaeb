import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import { InputError } from '../../../accounts/validation.js';
import type { Services } from '../../../services.js';
import { downgradeSubscription, subscribe, upgradeSubscription, validateRenewal } from '../../actions/subscriptions.js';
import { NotFound } from '../../views/scope.js';
import { field, webContext } from '../session.js';
import { redirectDone, staffAction } from './staff-kit.js';

const id = (text: string): number => {
  if (!/^\d{1,12}$/.test(text)) throw new InputError(`"${text}" is not an id`);
  return Number(text);
};

/** Staff forms of the subscriptions page; each goes back to it with its outcome. */
export function subscriptionActions(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  const run = (work: () => Promise<unknown>) => async () => {
    try {
      return await work();
    } catch (error) {
      // A subscription or credential that does not exist reads as a mistake on the form, not a server error.
      if (error instanceof NotFound) throw new InputError(error.message);
      throw error;
    }
  };
  app.post('/subscriptions/subscribe', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/subscriptions', async () => {
      const s = (await run(() => subscribe(services, webContext(request).viewer, 'console', { credential: field(request, 'credential').trim(), offer: field(request, 'offer') }))()) as { credential: string };
      return redirectDone(reply, '/subscriptions', 'subscription.add', s.credential);
    }),
  );
  app.post<{ Params: { id: string } }>('/subscriptions/:id/upgrade', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/subscriptions', async () => {
      await run(() => upgradeSubscription(services, webContext(request).viewer, 'console', id(request.params.id), field(request, 'offer')))();
      return redirectDone(reply, '/subscriptions', 'subscription.upgrade', request.params.id);
    }),
  );
  app.post<{ Params: { id: string } }>('/subscriptions/:id/downgrade', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/subscriptions', async () => {
      await run(() => downgradeSubscription(services, webContext(request).viewer, 'console', id(request.params.id), field(request, 'offer')))();
      return redirectDone(reply, '/subscriptions', 'subscription.downgrade', request.params.id);
    }),
  );
  app.post<{ Params: { id: string } }>('/renewals/:id/validate', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/subscriptions', async () => {
      await run(() => validateRenewal(services, webContext(request).viewer, 'console', id(request.params.id)))();
      return redirectDone(reply, '/subscriptions', 'renewal.validate', request.params.id);
    }),
  );
}
