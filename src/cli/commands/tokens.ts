import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import type { ApiToken } from '../../store/api-tokens.js';
import { ACTOR_OPTION, cliActor } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

function tokenJson(t: ApiToken) {
  return {
    id: t.id,
    name: t.name,
    scope: t.customer === null ? 'staff' : 'customer',
    customer: t.customer,
    created_at: isoOrNull(t.createdAt),
    last_used_at: isoOrNull(t.lastUsedAt),
    revoked_at: isoOrNull(t.revokedAt),
  };
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('bearer tokens of the HTTP API (/api/v1)');
  command(token, 'add', 'make an API token (staff scope, or one customer\'s with --customer); it is shown once')
    .requiredOption('--name <name>', 'what the token is for, for example "feedback-loop"')
    .option('--customer <name>', 'limit the token to this customer')
    .option(...ACTOR_OPTION)
    .action(async (options: CommonOptions & { name: string; customer?: string; actor?: string }) => {
      const actor = cliActor(options.actor);
      await withServices(options, async ({ tokens, audit }) => {
        const { token: t, secret } = await tokens.add(options.name, options.customer ?? null);
        await audit.record(actor, { action: 'token.add', subject: `${t.id} (${t.name})`, customerId: t.customerId, detail: { scope: t.customerId === null ? 'staff' : 'customer' } });
        if (options.json) return printJson({ ...tokenJson(t), token: secret });
        printFields([
          ['Id', t.id],
          ['Name', t.name],
          ['Scope', t.customer === null ? 'staff' : `customer "${t.customer}"`],
          ['Token', secret],
        ]);
        printLine('');
        printLine('The token is shown only this once: Relais keeps only a hash of it. Send it as "Authorization: Bearer TOKEN".');
      });
    });
  command(token, 'list', 'list API tokens (never their secret)').action(async (options: CommonOptions) => {
    await withServices(options, async ({ tokens }) => {
      const list = await tokens.list();
      if (options.json) return printJson(list.map(tokenJson));
      printTable(
        ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'REVOKED'],
        list.map((t) => [t.id, t.name, t.customer === null ? 'staff' : `customer ${t.customer}`, when(t.createdAt), when(t.lastUsedAt), when(t.revokedAt)]),
      );
    });
  });
  command(token, 'revoke <id>', 'revoke an API token: requests with it get 401 from now on')
    .option(...ACTOR_OPTION)
    .action(async (id: string, options: CommonOptions & { actor?: string }) => {
      if (!/^\d+$/.test(id)) throw new InputError(`"${id}" is not a token id: see "relais token list"`);
      const actor = cliActor(options.actor);
      await withServices(options, async ({ tokens, audit }) => {
        const t = await tokens.revoke(Number(id));
        await audit.record(actor, { action: 'token.revoke', subject: `${t.id} (${t.name})`, customerId: t.customerId });
        if (options.json) return printJson(tokenJson(t));
        printLine(`API token ${t.id} ("${t.name}") revoked`);
      });
    });
}
