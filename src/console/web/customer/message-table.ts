import type { FoundMessage } from '../../../store/message-search.js';
import { at, stateTag } from '../format.js';
import { html, type Html } from '../html.js';

/** Messages as a table: each with its recipients and their states; staff see whose it is. */
export function messageRows(found: readonly FoundMessage[], options: { withCustomer: boolean }): Html {
  if (found.length === 0) return html`<p class="muted">No messages.</p>`;
  return html`<div class="table"><table class="messages">
<thead><tr><th>Accepted</th>${options.withCustomer ? html`<th>Customer</th>` : ''}<th>Credential</th><th>From</th><th>Recipients</th><th>Message</th></tr></thead>
<tbody>${found.map(
    ({ message: m, customer, headerMessageId }) => html`<tr>
<td>${at(m.createdAt)}</td>
${options.withCustomer ? html`<td>${customer}</td>` : ''}
<td>${m.username ?? (m.onBehalfOf ? html`<span class="muted">notice about ${m.onBehalfOf}</span>` : '-')}</td>
<td>${m.mailFrom || '<>'}</td>
<td>${m.recipients.map((r) => html`<div>${r.address} ${stateTag(r.state)}</div>`)}</td>
<td><a href="/messages/${encodeURIComponent(m.id)}">${m.id}</a>${headerMessageId ? html`<div class="muted">${headerMessageId}</div>` : ''}</td>
</tr>`,
  )}</tbody></table></div>`;
}
