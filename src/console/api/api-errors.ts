import type { FastifyReply } from 'fastify';

/** Every API error has this shape: a stable `code` for programs, and a message for people. */
export interface ApiError {
  code: string;
  message: string;
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ code, message } satisfies ApiError);
}
