import { liftedByStaff, isSuspensionReason } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import type { Login } from '../../store/logins.js';
import type { Credential, Customer, Plan } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';

export type PlanState = 'future' | 'active' | 'ended';

export interface CredentialSummary {
  credential: Credential;
  plans: (Plan & { state: PlanState })[];
  /** Sum of the active plans: the quota the window counts against now. */
  quota: number;
  sent: number;
  /** A staff-lifted suspension (not quota, which lifts by itself). */
  suspended: boolean;
}

export interface CustomerDetail {
  customer: Customer;
  credentials: CredentialSummary[];
  logins: Login[];
}

export function customerList(services: Services, viewer: Viewer): Promise<Customer[]> {
  assertStaff(viewer);
  return services.accounts.listCustomers();
}

/** One customer with its credentials (plans, term dates, usage) and console logins; undefined if there is none. */
export async function customerDetail(services: Services, viewer: Viewer, customerId: number): Promise<CustomerDetail | undefined> {
  assertStaff(viewer);
  const customer = (await services.accounts.listCustomers()).find((c) => c.id === customerId);
  if (!customer) return undefined;
  const now = services.clock.now();
  const credentials = await services.accounts.listCredentials(customer.name);
  const summaries: CredentialSummary[] = [];
  for (const credential of credentials) {
    const plans = await services.store.listPlans(credential.id);
    const usage = await services.quota.usage(credential.id);
    const reason = credential.holdReason;
    summaries.push({
      credential,
      plans: plans.map((p) => ({ ...p, state: now < p.startsAt ? 'future' : now >= p.endsAt ? 'ended' : 'active' })),
      quota: usage.quota,
      sent: usage.sent,
      suspended: reason !== null && isSuspensionReason(reason) && liftedByStaff(reason),
    });
  }
  return { customer, credentials: summaries, logins: await services.logins.list(customer.id) };
}
