import type { z } from 'zod';
import type { Services } from '../../services.js';
import type { ApiToken } from '../../store/api-tokens.js';
import type { Viewer } from '../viewer.js';
import type { TokenScope } from './api-auth.js';

/**
 * One API route, as data: what registers it in Fastify (method, path, scope, the schemas that validate its
 * input, the handler) is also what the OpenAPI document is generated from, so the two cannot drift apart.
 */
export type ZodObjectLike = z.ZodObject;

export interface RouteContext<P, Q, B> {
  services: Services;
  viewer: Viewer;
  token: ApiToken;
  params: P;
  query: Q;
  body: B;
  /** The request body as bytes, for a route that takes a raw body (rawBody). */
  raw: Buffer;
  /** Answer with another documented success status than the first (201 for a created complaint, 200 for a duplicate). */
  status(code: number): void;
}

export interface RouteDefinition<P extends ZodObjectLike | undefined, Q extends ZodObjectLike | undefined, B extends ZodObjectLike | undefined, R extends z.ZodType> {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI form, with {name} for path parameters, relative to /api/v1. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  scope: TokenScope;
  params?: P;
  query?: Q;
  body?: B;
  /** The body is taken as bytes of this media type instead of JSON (the complaint intake's ARF reports). */
  rawBody?: { mediaType: string; maxBytes: number };
  response: R;
  /** The success statuses it answers, the first being the default. */
  success?: number[];
  /** Error statuses besides those every route may give (401; 400 with input; 403 staff-only; 404 with path parameters; 415 with a JSON body). */
  errors?: number[];
  handler(ctx: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<z.input<R>>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** A route with its types erased, as the table holds it. */
export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  scope: TokenScope;
  params?: ZodObjectLike;
  query?: ZodObjectLike;
  body?: ZodObjectLike;
  rawBody?: { mediaType: string; maxBytes: number };
  response: z.ZodType;
  success: number[];
  errors: number[];
  handler(ctx: RouteContext<unknown, unknown, unknown>): Promise<unknown>;
}

/** Typed at the definition (the handler's input and result are checked against the schemas), erased in the table. */
export function route<P extends ZodObjectLike | undefined = undefined, Q extends ZodObjectLike | undefined = undefined, B extends ZodObjectLike | undefined = undefined, R extends z.ZodType = z.ZodType>(
  definition: RouteDefinition<P, Q, B, R>,
): ApiRoute {
  const errors = new Set([401, ...(definition.errors ?? [])]);
  if (definition.params || definition.query || definition.body || definition.rawBody) errors.add(400);
  if (definition.scope === 'staff') errors.add(403);
  if (definition.body) errors.add(415);
  if (definition.params) errors.add(404);
  return {
    ...definition,
    success: definition.success ?? [200],
    errors: [...errors].sort(),
    handler: definition.handler as ApiRoute['handler'],
  } as ApiRoute;
}

/** `/credentials/{username}` → `/credentials/:username` */
export function fastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/** An error a handler answers with its own stable code (documented in the route's `errors`). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
