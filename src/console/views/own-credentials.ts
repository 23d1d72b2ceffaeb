import type { Services } from '../../services.js';
import type { Credential } from '../../store/records.js';
import { customerScope, type Viewer } from '../viewer.js';

/**
 * The credentials a viewer may see: a customer's own, or every credential for staff. The name filter narrows
 * the query; the id check is what isolation rests on (a customer's name is only a label).
 */
export async function visibleCredentials(services: Services, viewer: Viewer): Promise<Credential[]> {
  const scope = customerScope(viewer);
  if (scope === undefined) return services.accounts.listCredentials();
  const own = viewer.role === 'customer' ? await services.accounts.listCredentials(viewer.customer) : [];
  return own.filter((c) => c.customerId === scope);
}
