import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { html } from './html.js';
import { layout, sendPage } from './layout.js';
import { webContext } from './session.js';
import { staffHome } from './staff/overview-page.js';

/** `/`: the customer's home (usage, banner) or the staff overview. */
export async function homePage(request: FastifyRequest, reply: FastifyReply, _services: Services): Promise<FastifyReply> {
  if (webContext(request).viewer.role === 'staff') return staffHome(request, reply, _services);
  const { viewer, csrf } = webContext(request);
  return sendPage(reply, layout({ title: 'Home', viewer, csrf, current: '/' }, html`<h1>${viewer.role === 'staff' ? 'Overview' : viewer.customer}</h1>`));
}
