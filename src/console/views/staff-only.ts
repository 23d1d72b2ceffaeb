import type { Viewer } from '../viewer.js';

/** A staff-only view asked for by a customer viewer: pages answer 404 before this, so reaching it is a bug. */
export class StaffOnly extends Error {}

/**
 * Staff views read across every customer; each starts here, so a page that forgot `requireStaff` still shows a
 * customer nothing of the others'.
 */
export function assertStaff(viewer: Viewer): void {
  if (viewer.role !== 'staff') throw new StaffOnly(`${viewer.name} is not staff: this view lists every customer's data`);
}
