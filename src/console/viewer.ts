import type { ApiToken } from '../store/api-tokens.js';
import type { Login } from '../store/logins.js';

/**
 * Who is looking, for the console and the API alike. Every query a page or route makes takes a Viewer, and a
 * customer viewer only ever gets its own customer's rows: isolation is decided here, once, not route by route.
 */
export type Viewer = { role: 'staff'; name: string } | { role: 'customer'; customerId: number; customer: string; name: string };

export function viewerOfLogin(login: Login): Viewer {
  return login.role === 'staff' || login.customerId === null
    ? { role: 'staff', name: login.email }
    : { role: 'customer', customerId: login.customerId, customer: login.customer ?? '', name: login.email };
}

export function viewerOfToken(token: ApiToken): Viewer {
  return token.customerId === null
    ? { role: 'staff', name: `token:${token.name}` }
    : { role: 'customer', customerId: token.customerId, customer: token.customer ?? '', name: `token:${token.name}` };
}

/** Whether the viewer may see what belongs to this customer. */
export function canSee(viewer: Viewer, customerId: number | null | undefined): boolean {
  return viewer.role === 'staff' || (customerId !== null && customerId !== undefined && customerId === viewer.customerId);
}

/** The customer filter a query takes: undefined for staff (everyone), the viewer's own for a customer. */
export function customerScope(viewer: Viewer): number | undefined {
  return viewer.role === 'staff' ? undefined : viewer.customerId;
}
