import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import type { Services } from '../../../services.js';
import { requireSignIn, requireStaff } from '../session.js';
import { addressPages } from './addresses-page.js';
import { auditPages } from './audit-page.js';
import { customerPages } from './customers-pages.js';
import { queuePages } from './queue-page.js';
import { subscriptionActions } from './subscription-actions.js';
import { suspensionPages } from './suspensions-page.js';

/**
 * The staff pages and their forms. Every one is behind sign-in (with the CSRF check of each post) and then
 * staff-only: a customer login gets the same 404 as for a page that does not exist.
 */
export function staffRoutes(app: FastifyInstance, services: Services): void {
  const guard: preHandlerHookHandler[] = [requireSignIn(services.logins), requireStaff];
  customerPages(app, services, guard);
  suspensionPages(app, services, guard);
  queuePages(app, services, guard);
  addressPages(app, services, guard);
  auditPages(app, services, guard);
  subscriptionActions(app, services, guard);
}
