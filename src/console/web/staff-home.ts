import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { html } from './html.js';
import { layout, sendPage } from './layout.js';
import { webContext } from './session.js';

/** `/` for staff: the overview (filled by the staff pages' work; a heading until then). */
export async function staffHome(request: FastifyRequest, reply: FastifyReply, _services: Services): Promise<FastifyReply> {
  const { viewer, csrf } = webContext(request);
  return sendPage(reply, layout({ title: 'Overview', viewer, csrf, current: '/' }, html`<h1>Overview</h1>`));
}
