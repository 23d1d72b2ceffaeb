import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import type { Services } from '../../../services.js';
import { auditHistory } from '../../views/staff-audit.js';
import { html } from '../../../shared/html.js';
import { webContext } from '../session.js';
import { auditTable } from './audit-table.js';
import { queryText, staffPage } from './staff-kit.js';

export function auditPages(app: FastifyInstance, services: Services, guard: preHandlerHookHandler[]): void {
  app.get('/audit', { preHandler: guard }, async (request, reply) => {
    const actor = queryText(request, 'actor').trim().slice(0, 320);
    const action = queryText(request, 'action').trim().slice(0, 100);
    const entries = await auditHistory(services, webContext(request).viewer, { actor, action });
    return staffPage(
      request,
      reply,
      'Audit',
      '/audit',
      html`<h1>Audit history</h1>
<p class="muted">Every staff action, from the command line, the console and the API, newest first.</p>
<form class="search" method="get" action="/audit">
<input name="actor" value="${actor}" placeholder="actor" aria-label="Actor">
<input name="action" value="${action}" placeholder="action, e.g. credential.suspend" aria-label="Action">
<button type="submit">Filter</button>
</form>
${auditTable(entries)}`,
    );
  });
}
