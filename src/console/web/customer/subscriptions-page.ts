import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { listSubscriptions, type SubscriptionView } from '../../views/subscriptions.js';
import { at } from '../format.js';
import { html, type Html } from '../../../shared/html.js';
import { layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';
import { csrfField, flashOf } from '../staff/staff-kit.js';

/** The last day a term covers: its end is exclusive. */
const lastDay = (iso: string): string => new Date(Date.parse(iso) - 1).toISOString().slice(0, 10);

function renewal(s: SubscriptionView, request: FastifyRequest, staff: boolean): Html {
  const o = s.renewal_order;
  if (!o) return html`<span class="muted">none yet: it comes before the end date</span>`;
  if (o.validated_at) return html`<span class="state ok">validated</span> <span class="muted">${at(Date.parse(o.validated_at))}${o.offer ? html` · ${o.offer}` : ''}</span>`;
  return html`<span class="state wait">order no. ${o.id} to validate</span>${
    staff
      ? html`<form class="inline" method="post" action="/renewals/${o.id}/validate">${csrfField(request)}<button type="submit">Validate (paid)</button></form>`
      : html` <span class="muted">renewal is not automatic: once paid, your provider validates it</span>`
  }`;
}

function offerForm(request: FastifyRequest, s: SubscriptionView, offers: Record<string, { quota: number }>, kind: 'upgrade' | 'downgrade'): Html {
  const choices = Object.entries(offers).filter(([, o]) => (kind === 'upgrade' ? o.quota > s.quota : o.quota < s.quota));
  if (choices.length === 0) return html``;
  return html`<form class="inline" method="post" action="/subscriptions/${s.id}/${kind}">${csrfField(request)}
<select name="offer" aria-label="${kind} offer">${choices.map(([name, o]) => html`<option value="${name}">${name} (${o.quota})</option>`)}</select>
<button type="submit" class="secondary">${kind === 'upgrade' ? 'Upgrade now' : 'Downgrade next term'}</button></form>`;
}

/** `/subscriptions`: offers with their terms and renewal orders; staff also subscribe, upgrade, downgrade, validate. */
export async function subscriptionsPage(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const staff = viewer.role === 'staff';
  const list = await listSubscriptions(services, viewer);
  const offers = services.config.offers;
  const rows = list.map(
    (s) => html`<tr data-subscription="${s.id}">
<td class="num">${s.id}</td>${staff ? html`<td>${s.customer}</td>` : ''}<td>${s.credential}</td>
<td>${s.offer}<br><span class="muted">${s.quota} per 24 h · ${s.price}</span></td>
<td>${s.term_start.slice(0, 10)} – ${lastDay(s.term_end)}</td>
<td>${s.status === 'expired' ? html`<span class="state bad">expired</span>` : html`<span class="state ok">active</span>`}${
      s.next_offer ? html`<br><span class="muted">next term: ${s.next_offer}</span>` : ''
    }</td>
<td>${renewal(s, request, staff)}</td>
${staff ? html`<td>${offerForm(request, s, offers, 'upgrade')} ${offerForm(request, s, offers, 'downgrade')}</td>` : ''}
</tr>`,
  );
  const body = html`<h1>Subscriptions</h1>
${
  list.length === 0
    ? html`<p class="muted">No subscription yet.</p>`
    : html`<div class="table"><table>
<thead><tr><th>No.</th>${staff ? html`<th>Customer</th>` : ''}<th>Credential</th><th>Offer</th><th>Term</th><th>State</th><th>Renewal</th>${staff ? html`<th>Change</th>` : ''}</tr></thead>
<tbody>${rows}</tbody></table></div>`
}
${
  staff
    ? html`<h2>Subscribe a credential</h2>
${
  Object.keys(offers).length === 0
    ? html`<p class="muted">No offer is configured (config "offers").</p>`
    : html`<form class="stack" method="post" action="/subscriptions/subscribe">${csrfField(request)}
<label>Credential (username) <input name="credential" required></label>
<label>Offer <select name="offer">${Object.entries(offers).map(([name, o]) => html`<option value="${name}">${name} (${o.quota} per 24 h, ${o.price})</option>`)}</select></label>
<button type="submit">Subscribe (the parameter sheet is mailed)</button>
</form>`
}`
    : html`<p class="muted">Terms end at midnight UTC after their last day. Renewal is never automatic: a renewal order is sent before the end date.</p>`
}`;
  return sendPage(reply, layout({ title: 'Subscriptions', viewer, csrf, current: '/subscriptions', flash: flashOf(request) }, body));
}
