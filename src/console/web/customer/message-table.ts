import type { FoundMessage } from '../../../store/message-search.js';
import { at, stateTag } from '../format.js';
import { html, type Html } from '../../../shared/html.js';

/**
 * Messages as a table of three columns (staff: four, with the customer), so a phone shows it whole: the message
 * (link, time, Message-ID), its sender and credential, and each recipient with its state.
 */
export function messageRows(found: readonly FoundMessage[], options: { withCustomer: boolean }): Html {
  if (found.length === 0) return html`<p class="muted">No messages.</p>`;
  return html`<div class="table"><table class="messages">
<thead><tr><th>Message</th>${options.withCustomer ? html`<th>Customer</th>` : ''}<th>From</th><th>Recipients</th></tr></thead>
<tbody>${found.map(
    ({ message: m, customer, headerMessageId }) => html`<tr>
<td><a href="/messages/${encodeURIComponent(m.id)}">${m.id}</a><div class="muted">${at(m.createdAt)}</div>${headerMessageId ? html`<div class="muted">${headerMessageId}</div>` : ''}</td>
${options.withCustomer ? html`<td>${customer}</td>` : ''}
<td>${m.mailFrom || '<>'}<div class="muted">${m.username ?? (m.onBehalfOf ? `notice about ${m.onBehalfOf}'s mail` : '-')}</div></td>
<td>${m.recipients.map((r) => html`<div>${r.address} ${stateTag(r.state)}</div>`)}</td>
</tr>`,
  )}</tbody></table></div>`;
}
