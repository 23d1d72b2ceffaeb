import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import { ACTOR_OPTION, actorName } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { printJson, printLine } from '../output.js';

interface PoolOptions extends CommonOptions {
  ips?: string;
  all?: boolean;
  actor?: string;
  note?: string;
}

/** `relais credential pool U --ips A,B | --all`: isolates a credential on part of the outbound pool. */
export function registerCredentialPoolCommand(program: Command): void {
  const credential = program.commands.find((c) => c.name() === 'credential');
  if (!credential) throw new Error('the credential command must be registered before its pool subcommand');
  command(credential, 'pool <username>', 'pin a credential to some outbound addresses (--ips A,B) or give it the whole pool again (--all); without either, show its pinning')
    .option('--ips <addresses>', 'comma-separated addresses of outbound.ips')
    .option('--all', 'the whole pool (removes the pinning)')
    .option(...ACTOR_OPTION)
    .option('--note <text>', 'why, for the credential history')
    .action(async (username: string, options: PoolOptions) => {
      if (options.ips !== undefined && options.all) throw new InputError('give either --ips A,B or --all, not both');
      await withServices(options, async ({ accounts, store, config, suspensions, audit }) => {
        const c = await accounts.credential(username);
        const pool = config.outbound.ips.map((ip) => ip.address);
        if (options.ips === undefined && !options.all) {
          const pinned = await store.blocklists.poolPinsFor(c.id);
          if (options.json) return printJson({ username: c.username, ips: pinned.length ? pinned : null });
          return printLine(pinned.length ? `credential "${c.username}" sends only from ${pinned.join(', ')}` : `credential "${c.username}" sends from the whole pool`);
        }
        let addresses: string[] = [];
        if (options.ips !== undefined) {
          addresses = [...new Set(options.ips.split(',').map((a) => a.trim()).filter(Boolean))];
          if (addresses.length === 0) throw new InputError('--ips needs at least one address, for example --ips 192.0.2.10,192.0.2.11 (or --all for the whole pool)');
          if (pool.length === 0) throw new InputError('outbound.ips is empty: there is no pool to pin a credential to');
          const unknown = addresses.filter((a) => !pool.includes(a));
          if (unknown.length) throw new InputError(`${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not in outbound.ips (${pool.join(', ')}): see "relais ip list"`);
        }
        const actor = actorName(options.actor);
        await store.blocklists.setPoolPins(c.id, addresses);
        await audit.record(
          { name: actor, channel: 'cli' },
          { action: 'credential.pool', subject: c.username, customerId: c.customerId, detail: { ips: addresses.length ? addresses : 'all', note: options.note ?? null } },
        );
        await suspensions.record(c.id, addresses.length ? 'pool_pinned' : 'pool_unpinned', {
          actor,
          note: options.note ?? null,
          detail: { ips: addresses.length ? addresses : 'all' },
        });
        if (options.json) return printJson({ username: c.username, ips: addresses.length ? addresses : null });
        printLine(addresses.length ? `credential "${c.username}" now sends only from ${addresses.join(', ')}` : `credential "${c.username}" now sends from the whole pool`);
      });
    });
}
