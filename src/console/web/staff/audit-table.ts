import type { AuditEntry } from '../../../store/audit-log.js';
import { html, type Html } from '../../../shared/html.js';
import { when } from './staff-kit.js';

/** A detail object as "key=value" pairs, nested values as JSON: one table cell. */
export function detailText(detail: Record<string, unknown> | null): string {
  if (!detail) return '';
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)}`)
    .join(' ');
}

/**
 * Staff actions as a list, one entry per item: who (and through what), when, the action and its subject, then the
 * detail. A seven-column table would be unreadable on a phone; this reads the same at any width.
 */
export function auditTable(entries: readonly (AuditEntry & { customer?: string | null })[]): Html {
  if (entries.length === 0) return html`<p class="muted">No staff action recorded yet.</p>`;
  return html`<ol class="card" style="list-style:none;margin:0;padding:0">${entries.map((e) => {
    const customer = e.customer ?? (e.customerId === null ? null : `#${e.customerId}`);
    const detail = detailText(e.detail);
    return html`<li class="audit-entry" style="padding:.6rem 1rem;border-bottom:1px solid #e6e9ef;overflow-wrap:anywhere">
<div><code data-k="action">${e.action}</code> <strong data-k="subject">${e.subject ?? '-'}</strong>${customer ? html` <span class="muted">customer <span data-k="customer">${customer}</span></span>` : ''}</div>
<div class="muted"><span class="num" data-k="at">${when(e.at)}</span> · <span data-k="actor">${e.actor}</span> via <span class="state" data-k="channel">${e.channel}</span></div>
${detail ? html`<div class="muted" style="font-size:.85rem" data-k="detail">${detail}</div>` : ''}
</li>`;
  })}</ol>`;
}
