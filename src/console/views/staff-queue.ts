import type { Services } from '../../services.js';
import { QUEUE_SHAPE_BUCKETS_MINUTES, type ShapeRow } from '../../store/delivery-records.js';
import type { QueuedMessage } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';

export interface QueueShape {
  /** Column labels of the age buckets: "<5m" ... ">=1280m". */
  labels: string[];
  rows: ShapeRow[];
  totals: { total: number; buckets: number[] };
}

/** Pending recipients by destination domain and age, as `relais queue shape` prints it. */
export async function queueShape(services: Services, viewer: Viewer): Promise<QueueShape> {
  assertStaff(viewer);
  const rows = await services.store.delivery.shape(services.clock.now());
  const labels = [...QUEUE_SHAPE_BUCKETS_MINUTES.map((m) => `<${m}m`), `>=${QUEUE_SHAPE_BUCKETS_MINUTES[QUEUE_SHAPE_BUCKETS_MINUTES.length - 1]}m`];
  return {
    labels,
    rows,
    totals: { total: rows.reduce((n, r) => n + r.total, 0), buckets: labels.map((_, i) => rows.reduce((n, r) => n + (r.buckets[i] ?? 0), 0)) },
  };
}

export type QueueSearchField = 'recipient' | 'sender' | 'id';
export const QUEUE_SEARCH_FIELDS: readonly QueueSearchField[] = ['recipient', 'sender', 'id'];

/** Messages in the queue whose recipient or sender contains `text`, or whose queue id is `text`; newest last. */
export function queueSearch(services: Services, viewer: Viewer, field: QueueSearchField, text: string, limit = 200): Promise<QueuedMessage[]> {
  assertStaff(viewer);
  const term = text.trim();
  if (!term) return Promise.resolve([]);
  const filter = { recipient: { recipientContains: term }, sender: { senderContains: term }, id: { queueId: term } }[field];
  return services.store.listQueue({ ...filter, limit });
}

/** Messages with held recipients (their credential is suspended), for the release buttons. */
export function heldMessages(services: Services, viewer: Viewer, limit = 200): Promise<QueuedMessage[]> {
  assertStaff(viewer);
  return services.store.listQueue({ state: 'held', limit });
}
