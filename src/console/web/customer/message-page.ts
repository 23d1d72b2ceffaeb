import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { messageDetail } from '../../views/messages.js';
import { at, stateTag } from '../format.js';
import { html } from '../../../shared/html.js';
import { errorPage, layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';

/** `/messages/:queueId`: one message, each recipient's state and reply, and every delivery attempt. */
export async function messagePage(request: FastifyRequest<{ Params: { queueId: string } }>, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const detail = await messageDetail(services, viewer, request.params.queueId);
  // Another customer's message answers exactly like one that does not exist.
  if (!detail) return errorPage(reply, 404, 'Not found', 'There is no such message.', { viewer, csrf, current: '/messages' });
  const { message: m, attempts } = detail;
  const pending = (state: string) => state === 'queued' || state === 'deferred';
  const body = html`<h1>Message ${m.id}</h1>
<div class="card"><dl class="facts">
${viewer.role === 'staff' ? html`<dt>Customer</dt><dd>${detail.customer}</dd>` : ''}
<dt>Credential</dt><dd>${m.username ?? (m.onBehalfOf ? `notice about ${m.onBehalfOf}'s mail` : '-')}</dd>
<dt>From</dt><dd>${m.mailFrom || '<>'}</dd>
<dt>Message-ID</dt><dd>${detail.headerMessageId ?? '-'}</dd>
<dt>Size</dt><dd>${m.size} bytes</dd>
<dt>Accepted</dt><dd>${at(m.createdAt)}</dd>
<dt>Gives up at</dt><dd>${at(m.giveUpAt)}</dd>
</dl></div>
<h2>Recipients</h2>
<div class="table"><table class="recipients">
<thead><tr><th>Recipient</th><th>State</th><th>Attempts</th><th>Next attempt</th><th>Last reply</th></tr></thead>
<tbody>${m.recipients.map(
    (r) => html`<tr><td>${r.address}</td><td>${stateTag(r.state)}</td><td class="num">${r.attempts}</td><td>${pending(r.state) ? at(r.nextAttemptAt) : '-'}</td><td>${r.lastReply ?? '-'}</td></tr>`,
  )}</tbody></table></div>
<h2>Delivery attempts</h2>
${
  attempts.length === 0
    ? html`<p class="muted">No attempt yet.</p>`
    : html`<div class="table"><table class="attempts">
<thead><tr><th>Time</th><th>Recipients</th><th>Server</th><th>TLS</th><th>Outcome</th><th>Reply</th></tr></thead>
<tbody>${attempts.map(
        (a) => html`<tr><td>${at(a.at)}</td><td>${a.recipients.join(', ')}</td><td>${a.mx ? `${a.mx} [${a.remoteIp ?? '?'}]` : '-'}</td><td>${a.tlsVersion ?? 'none'}</td><td>${stateTag(a.outcome)}</td><td>${a.reply}</td></tr>`,
      )}</tbody></table></div>`
}
<p><a href="/messages">Back to messages</a></p>`;
  return sendPage(reply, layout({ title: `Message ${m.id}`, viewer, csrf, current: '/messages' }, body));
}
