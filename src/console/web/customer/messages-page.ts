import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { recentMessages, type MessageQuery } from '../../views/messages.js';
import { html } from '../../../shared/html.js';
import { layout, sendPage } from '../layout.js';
import { webContext } from '../session.js';
import { messageRows } from './message-table.js';

export type MessageSearchFields = { q?: string; recipient?: string; sender?: string; message_id?: string };

/** A query-string field as short text (repeated fields: the first; absurd lengths cut). */
const text = (value: unknown): string => (typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '').slice(0, 320);

/** `/messages`: the latest messages of the viewer's scope, searchable by recipient, sender and Message-ID. */
export async function messagesPage(request: FastifyRequest<{ Querystring: MessageSearchFields }>, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  const fields = { q: text(request.query.q), recipient: text(request.query.recipient), sender: text(request.query.sender), message_id: text(request.query.message_id) };
  const query: MessageQuery = { q: fields.q, recipient: fields.recipient, sender: fields.sender, messageId: fields.message_id, limit: 200 };
  const found = await recentMessages(services, viewer, query);
  const searching = Object.values(fields).some((v) => v.trim() !== '');
  const advanced = fields.recipient || fields.sender || fields.message_id;
  const body = html`<h1>Messages</h1>
<form class="search" method="get" action="/messages" role="search">
<input type="search" name="q" value="${fields.q}" placeholder="Recipient, sender, Message-ID or queue id" aria-label="Search messages">
<button type="submit">Search</button>
<details style="flex-basis:100%"${advanced ? html` open` : ''}><summary>Search by field</summary>
<div class="search" style="margin-top:.5rem">
<label>Recipient <input name="recipient" value="${fields.recipient}"></label>
<label>Sender <input name="sender" value="${fields.sender}"></label>
<label>Message-ID <input name="message_id" value="${fields.message_id}"></label>
</div></details>
</form>
<p class="muted">${searching ? `${found.length} message(s) found` : `The latest ${found.length} message(s)`}${found.length >= 200 ? ' (the first 200: narrow the search)' : ''}.</p>
${messageRows(found, { withCustomer: viewer.role === 'staff' })}`;
  return sendPage(reply, layout({ title: 'Messages', viewer, csrf, current: '/messages' }, body));
}
