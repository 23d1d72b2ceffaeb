import fs from 'node:fs';
import { z } from 'zod';
import type { ApiRoute } from './route-table.js';

/** The OpenAPI 3.1 description of /api/v1, generated from the route table's zod schemas. */

type JsonSchema = Record<string, unknown>;

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    code: { type: 'string', description: 'stable, for programs: token_required, token_invalid, staff_only, not_found, invalid_request, invalid_input, conflict, ...' },
    message: { type: 'string', description: 'for people: what went wrong and what to do' },
  },
  required: ['code', 'message'],
  additionalProperties: false,
};

const ERROR_MEANING: Record<number, string> = {
  400: 'The input is not valid (invalid_request, invalid_input; invalid_json for a body that is not JSON); the message names the field.',
  401: 'No token, or a token that is unknown or revoked.',
  403: 'A customer token on a staff route (code staff_only).',
  404: 'No such resource, or not this token\'s customer\'s.',
  409: 'The action does not fit the current state (already suspended, not suspended).',
  413: 'The body is larger than the route takes.',
  415: 'The body is not sent as application/json (code unsupported_media_type).',
};

/** A zod schema as a JSON Schema (2020-12, OpenAPI 3.1's dialect), without the `$schema` header. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(r: ApiRoute): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
    if (!schema) continue;
    const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      const { description, ...rest } = property as JsonSchema & { description?: string };
      out.push({
        name,
        in: where,
        required: where === 'path' || (object.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  return out;
}

function operation(r: ApiRoute): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  const body = jsonSchema(r.response, 'output');
  for (const status of r.success) responses[String(status)] = { description: status === 201 ? 'Created' : 'OK', content: { 'application/json': { schema: body } } };
  for (const status of r.errors) {
    responses[String(status)] = { description: ERROR_MEANING[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  const op: JsonSchema = {
    operationId: r.operationId,
    summary: r.summary,
    description: `${r.description ? `${r.description}\n\n` : ''}Token: ${r.scope === 'staff' ? 'staff only' : 'staff, or a customer token (its own customer\'s data only)'}.`,
    tags: [r.tag],
    'x-relais-scope': r.scope,
    parameters: parameters(r),
    responses,
  };
  if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } };
  if (r.rawBody) op.requestBody = { required: true, content: { [r.rawBody.mediaType]: { schema: { type: 'string', contentMediaType: r.rawBody.mediaType } } } };
  return op;
}

export function openApiDocument(routes: readonly ApiRoute[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const item = (paths[r.path] ??= {});
    const method = r.method.toLowerCase();
    // Fastify would refuse the second registration too; saying which one here is quicker to fix.
    if (item[method]) throw new Error(`the API route table has ${r.method} ${r.path} twice`);
    item[method] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Relais API',
      version: packageVersion(),
      description:
        'The JSON API of a Relais relay. Send "Authorization: Bearer TOKEN" (relais token add --name N for staff, --customer NAME for one customer). ' +
        'Errors are {code, message}: 401 without a valid token, 403 staff_only for a customer token on a staff route, 404 for what does not exist or is not yours, 400 for invalid input (the message names the field).',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token from "relais token add"' } },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}

function packageVersion(): string {
  // src/console/api/ and dist/console/api/ both sit three folders below package.json.
  const file = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
