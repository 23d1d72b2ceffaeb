import type { RelaisConfig } from '../config/schema.js';
import { parseEndpoint } from '../submission/listeners.js';

/** What a customer needs to configure a mail client: the server name and the ports with their TLS modes. */
export function connectionSettings(config: RelaisConfig): { server: string; ports: { port: number; tls: string; service: string }[] } {
  const ports: { port: number; tls: string; service: string }[] = [];
  const add = (service: string, tls: string, endpoints: readonly string[]) => {
    for (const endpoint of endpoints) {
      const { port } = parseEndpoint(endpoint);
      if (!ports.some((p) => p.port === port)) ports.push({ port, tls, service });
    }
  };
  add('submission', 'STARTTLS', config.listen.submission);
  add('smtps', 'implicit TLS', config.listen.smtps);
  add('smtp', 'STARTTLS', config.listen.smtp);
  return { server: config.hostname, ports };
}
