import http from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from '../log/logger.js';
import { parseEndpoint, type BoundListener } from '../submission/listeners.js';
import { sendError } from './api/api-errors.js';
import type { Services } from '../services.js';
import type { RelayMetrics } from '../metrics/relay-metrics.js';
import { apiV1 } from './api/api-v1.js';
import { complaintsRoute } from './api/complaints-route.js';
import { healthRoutes } from './metrics/health-routes.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { errorPage } from './web/layout.js';
import { webRoutes } from './web/web-routes.js';

export interface ConsoleDeps {
  services: Services;
  logger: Logger;
  /** The relay's metrics, served at /metrics; absent, there is no /metrics (/healthz and /readyz always are). */
  metrics?: RelayMetrics;
}

/** Probes answered well are logged at debug: a load balancer and Prometheus would fill the log otherwise. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The HTTP side of Relais (listen.console): the web console, and the JSON API under /api/v1 (and /api for the
 * first route, the complaint intake). One Fastify application served by one HTTP server per configured address.
 */
export class ConsoleServer {
  readonly bound: BoundListener[] = [];
  private readonly servers: http.Server[] = [];

  private constructor(
    private readonly app: FastifyInstance,
    private readonly handler: http.RequestListener,
    private readonly logger: Logger,
  ) {}

  static async start(endpoints: readonly string[], deps: ConsoleDeps): Promise<ConsoleServer> {
    let handler: http.RequestListener | undefined;
    const maxReportSize = deps.services.config.complaints.max_report_size;
    const routeDeps = { tokens: deps.services.tokens, complaints: deps.services.complaints, maxReportSize };
    const app = Fastify({
      logger: false,
      bodyLimit: maxReportSize,
      // Fastify listens on one address; the handler it builds is shared by a server per listen.console entry.
      serverFactory: (h) => {
        handler = h as http.RequestListener;
        return http.createServer(handler);
      },
    });
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status === 413) {
        return sendError(reply, 413, 'too_large', `the body is larger than complaints.max_report_size (${maxReportSize} bytes)`);
      }
      if (status < 500) return sendError(reply, status, 'bad_request', error.message);
      deps.logger.error({ event: 'http_error', method: request.method, url: request.url, error: error.message }, 'HTTP request failed');
      return sendError(reply, 500, 'internal', 'internal error; the relay log has the details');
    });
    app.setNotFoundHandler((request, reply) =>
      request.url.startsWith('/api/') || request.url === '/api'
        ? sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`)
        : errorPage(reply, 404, 'Not found', 'There is no such page.'),
    );
    app.addHook('onResponse', async (request, reply) => {
      const probe = reply.statusCode < 400 && PROBE_PATHS.has(request.url.split('?')[0] as string);
      deps.logger[probe ? 'debug' : 'info'](
        { event: 'http', method: request.method, url: request.url.slice(0, 300), status: reply.statusCode, client_ip: request.ip, ms: Math.round(reply.elapsedTime) },
        'HTTP request',
      );
    });
    const store = deps.services.store;
    await app.register(async (scope) => healthRoutes(scope, { pingStore: () => store.metrics.ping(), logger: deps.logger }));
    const metrics = deps.metrics;
    if (metrics) {
      const tokenRequired = deps.services.config.metrics.token_required;
      await app.register(async (scope) => metricsRoute(scope, { metrics, tokens: deps.services.tokens, tokenRequired }));
    }
    // /api/complaints is issue 9's route, kept for feedback loops configured with it; /api/v1 is the route table.
    await app.register(async (scope) => complaintsRoute(scope, routeDeps), { prefix: '/api' });
    await app.register(async (scope) => apiV1(scope, deps.services), { prefix: '/api/v1' });
    await app.register(async (scope) => webRoutes(scope, deps));
    await app.ready();
    const server = new ConsoleServer(app, handler as http.RequestListener, deps.logger);
    try {
      for (const endpoint of endpoints) await server.listen(endpoint);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  private listen(endpoint: string): Promise<void> {
    const { address, port } = parseEndpoint(endpoint);
    const server = http.createServer(this.handler);
    // A client that opens a connection and sends nothing must not hold it forever.
    server.requestTimeout = 60_000;
    server.headersTimeout = 10_000;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new Error(`cannot listen on ${endpoint} (listen.console): ${error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message}`));
      });
      server.listen({ host: address, port }, () => {
        const bound = server.address() as import('node:net').AddressInfo;
        this.bound.push({ kind: 'console', address: bound.address, port: bound.port, tls: 'HTTP' });
        server.on('error', (error) => this.logger.error({ event: 'listener_error', error: error.message }, 'console listener error'));
        resolve();
      });
    });
  }

  /** Stops accepting, lets requests in progress finish briefly, then closes what is left. */
  async stop(graceMs = 2000): Promise<void> {
    const closed = this.servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())));
    for (const server of this.servers) server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const server of this.servers) server.closeAllConnections();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(timer);
    this.servers.length = 0;
    await this.app.close();
  }
}
