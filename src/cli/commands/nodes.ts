import type { Command } from 'commander';
import { listNodes } from '../../cluster/node-list.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printTable, when } from '../output.js';

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('the nodes sharing this store');
  command(node, 'list', 'every node seen: roles, version, addresses, last heartbeat (live or not), sessions, deliveries in flight, job leases held').action(
    async (options: CommonOptions) => {
      await withServices(options, async ({ store }) => {
        // Heartbeats are real time, whatever the relay's clock.
        const nodes = await listNodes(store, Date.now());
        if (options.json) {
          return printJson(
            nodes.map((n) => ({
              name: n.name,
              roles: n.roles,
              version: n.version,
              state: n.state,
              live: n.state === 'live',
              listen: n.listen,
              outbound_ips: n.outboundIps,
              started_at: isoOrNull(n.startedAt),
              last_heartbeat: isoOrNull(n.heartbeatAt),
              sessions: n.sessions,
              deliveries_in_flight: n.deliveries,
              jobs: n.jobs,
            })),
          );
        }
        printTable(
          ['NODE', 'STATE', 'ROLES', 'VERSION', 'ADDRESSES', 'OUTBOUND', 'LAST HEARTBEAT', 'SESSIONS', 'DELIVERIES', 'JOBS'],
          nodes.map((n) => [
            n.name,
            n.state,
            n.roles.join(','),
            n.version,
            n.listen.join(', ') || '-',
            n.outboundIps.join(', ') || '-',
            when(n.heartbeatAt),
            n.sessions,
            n.deliveries,
            n.jobs.join(', ') || '-',
          ]),
        );
      });
    },
  );
}
