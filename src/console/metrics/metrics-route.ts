import type { FastifyInstance } from 'fastify';
import type { RelayMetrics } from '../../metrics/relay-metrics.js';
import { requireToken } from '../api/api-auth.js';
import type { ApiTokenService } from '../api/api-tokens.js';

export interface MetricsRouteDeps {
  metrics: RelayMetrics;
  tokens: ApiTokenService;
  /** metrics.token_required: a staff API token (Authorization: Bearer), as Prometheus's `authorization` sends it. */
  tokenRequired: boolean;
}

/** `GET /metrics`: the Prometheus text exposition of this relay's registry. */
export async function metricsRoute(app: FastifyInstance, deps: MetricsRouteDeps): Promise<void> {
  const onRequest = deps.tokenRequired ? [requireToken(deps.tokens, 'staff')] : [];
  app.get('/metrics', { onRequest }, async (_request, reply) => {
    const { contentType, body } = await deps.metrics.exposition();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
