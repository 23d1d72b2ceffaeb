import type { Services } from '../../services.js';
import type { Complaint } from '../../store/complaints.js';
import type { Viewer } from '../viewer.js';
import { visibleCredentials } from './own-credentials.js';

/**
 * Complaints the viewer may see, newest first: a customer's are those tied to its credentials (an unmatched
 * report belongs to nobody and only staff see it).
 */
export async function visibleComplaints(services: Services, viewer: Viewer, limit = 500): Promise<Complaint[]> {
  if (viewer.role === 'staff') return services.complaints.list({ newest: true, limit });
  const own = new Set((await visibleCredentials(services, viewer)).map((c) => c.id));
  const list = await services.complaints.list({ customer: viewer.customer, newest: true, limit });
  return list.filter((c) => c.credentialId !== null && own.has(c.credentialId));
}
