import { z } from 'zod';
import { connectionSettings } from '../../accounts/connection-settings.js';
import type { PlanTerm } from '../../accounts/accounts-service.js';
import type { AuditChannel } from '../../store/audit-log.js';
import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { planSchema, planView } from '../views/credentials.js';
import { customerView, type CustomerView } from '../views/customers.js';
import { isoAt, requireStaff, visibleCredential } from '../views/scope.js';

/**
 * Staff actions on accounts, for the console and the API: each checks the viewer is staff, goes through the
 * accounts service (the CLI's path) and records an audit entry naming who did it and through what.
 */

export const newCredentialSchema = z.object({
  server: z.string(),
  ports: z.array(z.object({ port: z.number().int(), tls: z.string(), service: z.string() })),
  username: z.string(),
  password: z.string().describe('Shown this once: Relais keeps only a hash of it.'),
  customer: z.string(),
});
export type NewCredentialView = z.infer<typeof newCredentialSchema>;

export const newPlanSchema = planSchema.extend({ credential: z.string() });
export type NewPlanView = z.infer<typeof newPlanSchema>;

export async function addCustomer(services: Services, viewer: Viewer, channel: AuditChannel, input: { name: string; email: string }): Promise<CustomerView> {
  requireStaff(viewer);
  const customer = await services.accounts.addCustomer(input.name, input.email);
  await services.audit.record({ name: viewer.name, channel }, { action: 'customer.add', subject: customer.name, customerId: customer.id, detail: { email: customer.email } });
  return customerView(customer);
}

export async function addCredential(services: Services, viewer: Viewer, channel: AuditChannel, input: { customer: string; username?: string }): Promise<NewCredentialView> {
  requireStaff(viewer);
  const { credential, password } = await services.accounts.addCredential(input.customer, input.username);
  await services.audit.record({ name: viewer.name, channel }, { action: 'credential.add', subject: credential.username, customerId: credential.customerId });
  const settings = connectionSettings(services.config);
  return { server: settings.server, ports: settings.ports, username: credential.username, password, customer: credential.customerName };
}

/** Adds (stacks) a plan on a credential: active plans add up. */
export async function addPlan(services: Services, viewer: Viewer, channel: AuditChannel, username: string, term: PlanTerm): Promise<NewPlanView> {
  requireStaff(viewer);
  const credential = await visibleCredential(services, viewer, username);
  const plan = await services.accounts.addPlan(username, term);
  await services.audit.record(
    { name: viewer.name, channel },
    { action: 'plan.add', subject: credential.username, customerId: credential.customerId, detail: { quota: plan.quota, starts_at: isoAt(plan.startsAt), ends_at: isoAt(plan.endsAt) } },
  );
  return { credential: credential.username, ...planView(plan, services.clock.now()) };
}

export const newPasswordSchema = z.object({
  username: z.string(),
  password: z.string().describe('Shown this once: Relais keeps only a hash of it. The old password stops working.'),
});

/**
 * A new generated SMTP password for a credential: staff for any, a customer for its own (the parameter sheet
 * sends customers here, since Relais never mails passwords). Recorded in the audit log either way.
 */
export async function newSmtpPassword(services: Services, viewer: Viewer, channel: AuditChannel, username: string): Promise<z.infer<typeof newPasswordSchema>> {
  const credential = await visibleCredential(services, viewer, username);
  const { password } = await services.accounts.resetPassword(credential.username);
  await services.audit.record({ name: viewer.name, channel }, { action: 'credential.password', subject: credential.username, customerId: credential.customerId, detail: { by: viewer.role } });
  return { username: credential.username, password };
}
