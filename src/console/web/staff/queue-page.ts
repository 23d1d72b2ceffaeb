import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { InputError } from '../../../accounts/validation.js';
import { deleteQueuedMessage } from '../../../queue/queue-admin.js';
import type { Services } from '../../../services.js';
import type { QueuedMessage } from '../../../store/records.js';
import { heldMessages, QUEUE_SEARCH_FIELDS, queueSearch, queueShape, type QueueSearchField } from '../../views/staff-queue.js';
import { html, type Html } from '../../../shared/html.js';
import { field, webContext } from '../session.js';
import { consoleActor, csrfField, noteField, queryText, redirectDone, staffAction, staffPage, when } from './staff-kit.js';

function states(m: QueuedMessage): string {
  const counts = new Map<string, number>();
  for (const r of m.recipients) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
}

/** Search results as cards, not a wide table: a message has several recipients and two forms, and must read on a phone. */
function messageCards(request: FastifyRequest, list: readonly QueuedMessage[]): Html {
  return html`${list.map(
    (m) => html`<section class="card" data-message="${m.id}">
<h3 style="margin:0 0 .3rem"><code>${m.id}</code> <span class="muted" style="font-weight:400">${states(m)}</span></h3>
<p style="margin:.2rem 0;overflow-wrap:anywhere">From ${m.mailFrom || '<>'} · ${m.username ? html`credential ${m.username}` : m.onBehalfOf ? `notice for ${m.onBehalfOf}` : 'Relais'} · accepted <span class="num">${when(m.createdAt)}</span> · ${m.size} bytes</p>
<ul style="margin:.3rem 0;padding-left:1.1rem">${m.recipients.map(
      (r) => html`<li style="overflow-wrap:anywhere">${r.address} <span class="state ${r.state === 'delivered' ? 'ok' : r.state === 'failed' ? 'bad' : 'wait'}">${r.state}</span> <span class="muted">${r.attempts} attempt(s)${r.lastReply ? `; ${r.lastReply}` : ''}</span></li>`,
    )}</ul>
<div style="display:flex;flex-wrap:wrap;gap:.5rem;align-items:end">
<form method="post" action="/queue/retry">${csrfField(request)}<input type="hidden" name="id" value="${m.id}"><button type="submit" class="secondary">Retry now</button></form>
<form method="post" action="/queue/delete" style="display:flex;flex-wrap:wrap;gap:.5rem;align-items:center">${csrfField(request)}<input type="hidden" name="id" value="${m.id}">
<label style="display:flex;gap:.3rem;align-items:center"><input type="checkbox" name="notify" value="1" style="width:auto"> notify the sender</label>
<button type="submit" class="danger">Delete</button></form>
</div>
</section>`,
  )}`;
}

export function queuePages(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  app.get('/queue', { preHandler: guard }, async (request, reply) => {
    const viewer = webContext(request).viewer;
    const shape = await queueShape(services, viewer);
    const by = (QUEUE_SEARCH_FIELDS as readonly string[]).includes(queryText(request, 'by')) ? (queryText(request, 'by') as QueueSearchField) : 'recipient';
    const q = queryText(request, 'q').slice(0, 320);
    const found = q ? await queueSearch(services, viewer, by, q) : [];
    const held = await heldMessages(services, viewer);
    const heldBy = new Map<string, number>();
    for (const m of held) if (m.username) heldBy.set(m.username, (heldBy.get(m.username) ?? 0) + 1);
    return staffPage(
      request,
      reply,
      'Queue',
      '/queue',
      html`<h1>Queue</h1>
<h2>Shape: pending recipients by destination and age</h2>
${
  shape.rows.length
    ? html`<div class="table"><table><thead><tr><th>Domain</th><th>Total</th>${shape.labels.map((l) => html`<th>${l}</th>`)}</tr></thead><tbody>
<tr><th>Total</th><td class="num">${shape.totals.total}</td>${shape.totals.buckets.map((n) => html`<td class="num">${n}</td>`)}</tr>
${shape.rows.map((r) => html`<tr><td>${r.domain}</td><td class="num">${r.total}</td>${r.buckets.map((n) => html`<td class="num">${n || ''}</td>`)}</tr>`)}</tbody></table></div>`
    : html`<p class="muted">Nothing pending.</p>`
}
<form method="post" action="/queue/retry" style="margin-top:.6rem">${csrfField(request)}<input type="hidden" name="id" value=""><input type="hidden" name="all" value="1"><button type="submit" class="secondary">Retry every pending recipient now</button></form>
<h2>Held mail (suspended credentials)</h2>
${
  heldBy.size
    ? html`<div class="table"><table><thead><tr><th>Credential</th><th>Held messages</th><th></th></tr></thead><tbody>${[...heldBy].map(
        ([username, n]) => html`<tr data-held="${username}"><td>${username}</td><td class="num">${n}</td><td><form method="post" action="/queue/release">${csrfField(request)}<input type="hidden" name="credential" value="${username}">
<label>Note <input name="note" maxlength="2000" required></label><button type="submit">Release held mail</button></form></td></tr>`,
      )}</tbody></table></div>`
    : html`<p class="muted">No mail is held.</p>`
}
<h2>Search</h2>
<form class="search" method="get" action="/queue">
<select name="by" aria-label="Search by" style="width:auto">${QUEUE_SEARCH_FIELDS.map((f) => html`<option value="${f}"${f === by ? html` selected` : ''}>${f === 'id' ? 'queue id' : f}</option>`)}</select>
<input name="q" value="${q}" placeholder="address, part of it, or a queue id" aria-label="Search text">
<button type="submit">Search</button>
</form>
${q ? (found.length ? messageCards(request, found) : html`<p class="muted">No message in the queue matches.</p>`) : ''}`,
    );
  });

  app.post('/queue/retry', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/queue', async () => {
      const id = field(request, 'id').trim();
      const all = field(request, 'all') === '1';
      if (!id && !all) throw new InputError('say which message to retry, or retry every message');
      const message = id ? await services.store.findMessage(id) : undefined;
      if (id && !message) throw new InputError(`no message with id "${id}" in the queue`);
      const n = await services.store.delivery.retryNow(id || null, services.clock.now());
      const customerId = message?.credentialId ? ((await services.store.credentialById(message.credentialId))?.customerId ?? null) : null;
      await services.audit.record(consoleActor(request), { action: 'queue.retry', subject: id || 'all', customerId, detail: { recipients: n } });
      return redirectDone(reply, '/queue', 'queue.retry', id || 'all', n);
    }),
  );

  app.post('/queue/delete', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/queue', async () => {
      const id = field(request, 'id').trim();
      const notify = field(request, 'notify') === '1';
      const actor = consoleActor(request);
      const done = await deleteQueuedMessage(services, id, { notify, actor: actor.name });
      const customerId = done.credentialId === null ? null : ((await services.store.credentialById(done.credentialId))?.customerId ?? null);
      await services.audit.record(actor, { action: 'queue.delete', subject: id, customerId, detail: { notify, notice: done.notice } });
      return redirectDone(reply, '/queue', done.notice ? 'queue.delete_notified' : 'queue.delete', id);
    }),
  );

  app.post('/queue/release', { preHandler: guard }, (request, reply) =>
    staffAction(request, reply, '/queue', async () => {
      const note = noteField(field(request, 'note'));
      const actor = consoleActor(request);
      const credential = await services.accounts.credential(field(request, 'credential'));
      const released = await services.suspensions.releaseHeldMail(credential.id, { actor: actor.name, note });
      await services.audit.record(actor, { action: 'queue.release', subject: credential.username, customerId: credential.customerId, detail: { ...released, note } });
      return redirectDone(reply, '/queue', 'queue.release', credential.username, released.messages);
    }),
  );
}
