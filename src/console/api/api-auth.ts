import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken } from '../../store/api-tokens.js';
import type { ApiTokenService } from './api-tokens.js';
import { sendError } from './api-errors.js';

/** Which tokens a route takes: staff only, or staff and customer tokens (each route then limits a customer to its own). */
export type TokenScope = 'staff' | 'any';

const authenticated = new WeakMap<FastifyRequest, ApiToken>();

/** The token a request was admitted with (set by requireToken's hook). */
export function requestToken(request: FastifyRequest): ApiToken {
  const token = authenticated.get(request);
  if (!token) throw new Error('route reached without requireToken');
  return token;
}

/**
 * An onRequest hook: the token is checked before the body is read, so a caller without one cannot make the
 * relay read (up to the size limit) a body it will refuse anyway.
 */
export function requireToken(tokens: ApiTokenService, scope: TokenScope) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const check = await tokens.check(request.headers.authorization);
    if (!check.ok) {
      const message = {
        missing: 'an API token is required: send "Authorization: Bearer TOKEN" (make one with "relais token add --name NAME")',
        unknown: 'this API token is not valid: check it, or make a new one with "relais token add --name NAME"',
        revoked: 'this API token was revoked: make a new one with "relais token add --name NAME"',
      }[check.why];
      reply.header('www-authenticate', `Bearer realm="relais"${check.why === 'missing' ? '' : ', error="invalid_token"'}`);
      return sendError(reply, 401, check.why === 'missing' ? 'token_required' : 'token_invalid', message);
    }
    if (scope === 'staff' && check.token.customerId !== null) {
      return sendError(reply, 403, 'staff_only', 'this route takes a staff token; a customer token (relais token add --customer) cannot use it');
    }
    authenticated.set(request, check.token);
  };
}
