import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { InputError } from '../../accounts/validation.js';
import { NotSuspended, SuspensionChanged } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import { viewerOfToken } from '../viewer.js';
import { Conflict, NotFound, StaffOnly } from '../views/scope.js';
import { requestToken, requireToken } from './api-auth.js';
import { sendError } from './api-errors.js';
import { apiRoutes } from './api-routes.js';
import { openApiDocument } from './openapi.js';
import { ApiProblem, fastifyPath, type ApiRoute } from './route-table.js';

/** The JSON API under /api/v1: every route of the table, and the OpenAPI document describing them. */
export async function apiV1(app: FastifyInstance, services: Services): Promise<void> {
  const routes = apiRoutes(services.config);
  const document = openApiDocument(routes);
  // The description of the API is public: it holds no data, and clients fetch it before they have a token.
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
  await app.register(async (json) => {
    json.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        const given = String(request.headers['content-type'] ?? '').slice(0, 100);
        return sendError(reply, 415, 'unsupported_media_type', `send the body as application/json (Content-Type: application/json), not "${given}"`);
      }
      if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
        return sendError(reply, 400, 'invalid_json', `the body is not valid JSON (${error.message}): send a JSON object`);
      }
      // Everything else as on the rest of the console (413, 500 with a log line).
      throw error;
    });
    for (const r of routes.filter((r) => !r.rawBody)) register(json, r, services);
  });
  await app.register(async (raw) => {
    // These bodies are bytes whatever the Content-Type says (feedback loops and curl send many).
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    for (const r of routes.filter((r) => r.rawBody)) register(raw, r, services);
  });
}

function register(app: FastifyInstance, r: ApiRoute, services: Services): void {
  app.route({
    method: r.method,
    url: fastifyPath(r.path),
    onRequest: requireToken(services.tokens, r.scope),
    ...(r.rawBody ? { bodyLimit: r.rawBody.maxBytes } : {}),
    handler: (request, reply) => answer(r, services, request, reply),
  });
}

async function answer(r: ApiRoute, services: Services, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const input: Record<'params' | 'query' | 'body', unknown> = { params: undefined, query: undefined, body: undefined };
  for (const part of ['params', 'query', 'body'] as const) {
    const schema = r[part];
    if (!schema) continue;
    const given = request[part] ?? {};
    const parsed = schema.safeParse(given);
    if (!parsed.success) return sendError(reply, 400, 'invalid_request', describeIssues(part, parsed.error));
    input[part] = parsed.data;
  }
  const token = requestToken(request);
  let status = r.success[0] ?? 200;
  try {
    const result = await r.handler({
      services,
      viewer: viewerOfToken(token),
      token,
      params: input.params,
      query: input.query,
      body: input.body,
      raw: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
      status(code) {
        if (!r.success.includes(code)) throw new Error(`${r.operationId} answered ${code}, which its route does not document`);
        status = code;
      },
    });
    return reply.code(status).type('application/json; charset=utf-8').send(result);
  } catch (error) {
    if (error instanceof ApiProblem) return sendError(reply, error.status, error.code, error.message);
    if (error instanceof NotFound) return sendError(reply, 404, 'not_found', `${error.message} (or it is not yours)`);
    if (error instanceof StaffOnly) return sendError(reply, 403, 'staff_only', 'this route takes a staff token; a customer token (relais token add --customer) cannot use it');
    if (error instanceof Conflict || error instanceof NotSuspended || error instanceof SuspensionChanged) return sendError(reply, 409, 'conflict', error.message);
    if (error instanceof InputError) return sendError(reply, 400, 'invalid_input', error.message);
    throw error;
  }
}

/** "body.quota: expected a number, received a string; query.limit: ..." — each problem with the field it is about. */
function describeIssues(part: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const field = [part, ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys') return `${part}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}
