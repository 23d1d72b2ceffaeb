import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.js';
import { staffOverview } from '../../views/staff-overview.js';
import { webContext } from '../session.js';
import { html } from '../../../shared/html.js';
import { auditTable } from './audit-table.js';
import { staffPage } from './staff-kit.js';

/** `/` for staff: what needs attention (suspensions, the queue, listed addresses) and the latest staff actions. */
export async function staffHome(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  const o = await staffOverview(services, webContext(request).viewer);
  const card = (href: string, label: string, value: number, note: string, bad = false) =>
    html`<a class="card" href="${href}" style="text-decoration:none;color:inherit;display:block;margin:0"><div class="muted">${label}</div><div class="num" style="font-size:1.8rem;font-weight:600${bad ? ';color:#b42318' : ''}">${value}</div><div class="muted">${note}</div></a>`;
  return staffPage(
    request,
    reply,
    'Overview',
    '/',
    html`<h1>Overview</h1>
<div class="cards">
${card('/customers', 'Customers', o.customers, `${o.credentials} credential(s)`)}
${card('/suspensions', 'Suspended credentials', o.suspended, `${o.heldMessages} message(s) held`, o.suspended > 0)}
${card('/queue', 'Pending recipients', o.pendingRecipients, 'queued or deferred')}
${card('/ips', 'Outbound addresses', o.addresses, `${o.addressesListed} listed`, o.addressesListed > 0)}
</div>
<h2>Latest staff actions</h2>
${auditTable(o.recentActions)}
<p><a href="/audit">The whole audit history</a></p>`,
  );
}
