import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Credential, Customer } from '../../store/records.js';
import { canSee, type Viewer } from '../viewer.js';

/**
 * What the viewer asked for does not exist or is not theirs. Both read the same (404 in the API, the not-found
 * page in the console), so a customer cannot tell another customer's username from a free one.
 */
export class NotFound extends Error {}

/** The action does not fit the current state (already suspended, nothing to reinstate): 409 in the API. */
export class Conflict extends Error {}

/** A staff-only view or action asked by a customer viewer (403 `staff_only` in the API). */
export class StaffOnly extends Error {}

export function requireStaff(viewer: Viewer): asserts viewer is Extract<Viewer, { role: 'staff' }> {
  if (viewer.role !== 'staff') throw new StaffOnly('this is for staff only');
}

/** An instant as the views hand it out: ISO 8601 in UTC, or null. */
export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
export const isoAt = (ms: number): string => new Date(ms).toISOString();

export const isoSchema = z.iso.datetime();
export const detailSchema = z.record(z.string(), z.unknown()).nullable();

/** A credential the viewer may see, by username; NotFound otherwise. */
export async function visibleCredential(services: Services, viewer: Viewer, username: string): Promise<Credential> {
  const credential = await services.store.findCredential(username);
  if (!credential || !canSee(viewer, credential.customerId)) throw new NotFound(`no credential "${username}"`);
  return credential;
}

/** A customer the viewer may see, by name; NotFound otherwise. */
export async function visibleCustomer(services: Services, viewer: Viewer, name: string): Promise<Customer> {
  const customer = await services.store.findCustomer(name);
  if (!customer || !canSee(viewer, customer.id)) throw new NotFound(`no customer "${name}"`);
  return customer;
}

/**
 * The customers a viewer may see: all of them for staff, its own for a customer. Read by id rather than by the
 * name the viewer was made with, so the scope never depends on a name.
 */
export async function visibleCustomers(services: Services, viewer: Viewer): Promise<Customer[]> {
  const all = await services.store.listCustomers();
  return all.filter((c) => canSee(viewer, c.id));
}

/** The credentials a viewer may see, optionally of one (visible) customer. */
export async function visibleCredentials(services: Services, viewer: Viewer, customerName?: string): Promise<Credential[]> {
  if (customerName !== undefined) await visibleCustomer(services, viewer, customerName);
  const list = await services.store.listCredentials(customerName);
  return list.filter((c) => canSee(viewer, c.customerId));
}
