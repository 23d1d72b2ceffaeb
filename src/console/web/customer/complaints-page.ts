import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { visibleComplaints } from '../../views/complaint-list.js';
import { at, stateTag } from '../format.js';
import { html } from '../../../shared/html.js';
import { layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';

/** `/complaints`: feedback-loop reports about the viewer's mail, newest first (staff: every one, with its customer). */
export async function complaintsPage(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const list = await visibleComplaints(services, viewer);
  const staff = viewer.role === 'staff';
  const body = html`<h1>Complaints</h1>
${
  list.length === 0
    ? html`<p class="muted">No complaints.</p>`
    : html`<div class="table"><table class="complaints">
<thead><tr><th>Received</th>${staff ? html`<th>Customer</th><th>Status</th>` : ''}<th>Message</th><th>Credential</th></tr></thead>
<tbody>${list.map(
        (c) => html`<tr>
<td>${at(c.receivedAt)}<div class="muted">${c.feedbackType ?? '-'}${c.userAgent ? ` · ${c.userAgent}` : ''}</div></td>
${staff ? html`<td>${c.customer ?? '-'}</td><td>${stateTag(c.status)}</td>` : ''}
<td>${c.queueId ? html`<a href="/messages/${encodeURIComponent(c.queueId)}">${c.queueId}</a>` : (c.originalMessageId ?? '-')}<div class="muted">to ${c.originalRcptTo.join(', ') || '-'}</div></td>
<td>${c.username ?? '-'}</td>
</tr>`,
      )}</tbody></table></div>`
}`;
  return sendPage(reply, layout({ title: 'Complaints', viewer, csrf, current: '/complaints' }, body));
}
