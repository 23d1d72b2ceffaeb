import type { FastifyReply, FastifyRequest } from 'fastify';
import { totalsByCurrency } from '../../../reputation/fees.js';
import type { Services } from '../../../services.js';
import { visibleCharges } from '../../views/charge-list.js';
import { at } from '../format.js';
import { html } from '../../../shared/html.js';
import { layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';

/** `/charges`: fees recorded on the viewer's credentials (reinstatements, blocklist removal), with totals. */
export async function chargesPage(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const charges = await visibleCharges(services, viewer);
  const staff = viewer.role === 'staff';
  const body = html`<h1>Charges</h1>
${
  charges.length === 0
    ? html`<p class="muted">No charges.</p>`
    : html`<div class="table"><table class="charges">
<thead><tr><th>Time</th>${staff ? html`<th>Customer</th>` : ''}<th>Amount</th><th>Credential</th><th>Note</th></tr></thead>
<tbody>${charges.map(
        (c) => html`<tr><td>${at(c.at)}</td>${staff ? html`<td>${c.customer}</td>` : ''}<td class="num">${c.amount} ${c.currency}<div class="muted">${c.fee}</div></td><td>${c.credential}<div class="muted">${c.reason ?? '-'}</div></td><td>${c.note ?? '-'}</td></tr>`,
      )}</tbody></table></div>
${totalsByCurrency(charges).map((t) => html`<p><strong>Total: ${t.amount} ${t.currency}</strong></p>`)}`
}`;
  return sendPage(reply, layout({ title: 'Charges', viewer, csrf, current: '/charges' }, body));
}
