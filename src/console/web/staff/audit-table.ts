import type { AuditEntry } from '../../../store/audit-log.js';
import { html, type Html } from '../html.js';
import { when } from './staff-kit.js';

/** A detail object as "key=value" pairs, nested values as JSON: one table cell. */
export function detailText(detail: Record<string, unknown> | null): string {
  if (!detail) return '';
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)}`)
    .join(' ');
}

/** Staff actions as a table: time, actor, channel, action, subject (and the customer, when known). */
export function auditTable(entries: readonly (AuditEntry & { customer?: string | null })[]): Html {
  if (entries.length === 0) return html`<p class="muted">No staff action recorded yet.</p>`;
  return html`<div class="table"><table>
<thead><tr><th>Time</th><th>Actor</th><th>Channel</th><th>Action</th><th>Subject</th><th>Customer</th><th>Detail</th></tr></thead>
<tbody>${entries.map(
    (e) => html`<tr data-action="${e.action}"><td class="num">${when(e.at)}</td><td>${e.actor}</td><td><span class="state">${e.channel}</span></td><td><code>${e.action}</code></td><td>${e.subject ?? '-'}</td><td>${e.customer ?? (e.customerId === null ? '-' : `#${e.customerId}`)}</td><td class="muted">${detailText(e.detail)}</td></tr>`,
  )}</tbody></table></div>`;
}
