import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Customer } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { credentialView, credentialSchema } from './credentials.js';
import { isoAt, isoSchema, visibleCredentials, visibleCustomer, visibleCustomers } from './scope.js';

export const customerSchema = z.object({
  name: z.string(),
  email: z.string(),
  credential_count: z.number().int(),
  created_at: isoSchema,
});
export type CustomerView = z.infer<typeof customerSchema>;

export const customerDetailSchema = customerSchema.extend({ credentials: z.array(credentialSchema) });
export type CustomerDetailView = z.infer<typeof customerDetailSchema>;

export function customerView(c: Customer): CustomerView {
  return { name: c.name, email: c.email, credential_count: c.credentialCount, created_at: isoAt(c.createdAt) };
}

/** Every customer for staff; a customer viewer's own, alone. */
export async function listCustomers(services: Services, viewer: Viewer): Promise<CustomerView[]> {
  return (await visibleCustomers(services, viewer)).map(customerView);
}

export async function showCustomer(services: Services, viewer: Viewer, name: string): Promise<CustomerDetailView> {
  const customer = await visibleCustomer(services, viewer, name);
  const credentials = await visibleCredentials(services, viewer, customer.name);
  return { ...customerView(customer), credentials: credentials.map(credentialView) };
}
