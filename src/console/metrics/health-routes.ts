import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.js';
import { withinDeadline } from '../../shared/deadline.js';

export interface HealthRouteDeps {
  /** The cheapest query the store answers (Store.metrics.ping). */
  pingStore: () => Promise<void>;
  logger: Logger;
  /** How long the store has to answer a readiness check: a load balancer probes every few seconds. */
  readyTimeoutMs?: number;
}

const READY_TIMEOUT_MS = 2000;

/**
 * For load balancers and systemd: `GET /healthz` answers 200 while the process serves HTTP at all (liveness:
 * restart it when this fails), `GET /readyz` 200 only when the store answers a trivial query within two seconds
 * (readiness: send no traffic meanwhile; 503 with the reason). Neither asks for a token, and neither says more
 * than up or down and why.
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): Promise<void> {
  const timeoutMs = deps.readyTimeoutMs ?? READY_TIMEOUT_MS;
  // Logged when readiness changes, not at every probe: an outage would otherwise write a line every few seconds.
  let lastReady = true;

  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    try {
      await withinDeadline(deps.pingStore(), timeoutMs, 'the store');
    } catch (error) {
      const reason = `store unreachable: ${(error as Error).message}`.replace(/\s+/g, ' ').slice(0, 300);
      if (lastReady) deps.logger.warn({ event: 'not_ready', reason }, 'readiness check failed: the store does not answer');
      lastReady = false;
      return reply.code(503).send({ status: 'not_ready', reason });
    }
    if (!lastReady) deps.logger.info({ event: 'ready' }, 'readiness check passes again: the store answers');
    lastReady = true;
    return reply.send({ status: 'ready' });
  });
}
