import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { customerHome } from './customer/home-page.js';
import { webContext } from './session.js';
import { staffHome } from './staff/overview-page.js';

/** `/`: the customer's home (usage, suspension banner) or the staff overview. */
export async function homePage(request: FastifyRequest, reply: FastifyReply, services: Services): Promise<FastifyReply> {
  return webContext(request).viewer.role === 'staff' ? staffHome(request, reply, services) : customerHome(request, reply, services);
}
