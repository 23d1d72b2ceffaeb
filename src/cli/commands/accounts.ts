import type { Command } from 'commander';
import { connectionSettings } from '../../accounts/connection-settings.js';
import type { RelaisConfig } from '../../config/schema.js';
import type { Credential } from '../../store/records.js';
import { ACTOR_OPTION, cliActor } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

// Kept here too for code that took it from the CLI before it moved to accounts/.
export { connectionSettings };

function credentialJson(c: Credential) {
  return {
    username: c.username,
    customer: c.customerName,
    enabled: c.enabled,
    hold: c.holdReason,
    created_at: isoOrNull(c.createdAt),
    updated_at: isoOrNull(c.updatedAt),
  };
}

function printNewPassword(config: RelaisConfig, username: string, password: string, customer: string, json: boolean | undefined, what: string) {
  const settings = connectionSettings(config);
  if (json) return printJson({ server: settings.server, ports: settings.ports, username, password, customer });
  printLine(`${what} for customer "${customer}". Give these to the customer:`);
  printLine('');
  printFields([
    ['Server', settings.server],
    ['Ports', settings.ports.map((p) => `${p.port} (${p.tls})`).join(', ')],
    ['Authentication', 'PLAIN or LOGIN, after TLS'],
    ['Username', username],
    ['Password', password],
  ]);
  process.stdout.write('\nThe password is shown only this once: Relais keeps only a hash of it.\n');
}

export function registerAccountCommands(program: Command): void {
  const customer = program.command('customer').description('customers: the accounts that own credentials');
  command(customer, 'add <name>', 'add a customer')
    .requiredOption('--email <address>', 'contact e-mail address')
    .option('--lang <language>', 'language of the notices sent to the customer: en or fr (default: provider.language)')
    .option(...ACTOR_OPTION)
    .action(async (name: string, options: CommonOptions & { email: string; lang?: string; actor?: string }) => {
      const actor = cliActor(options.actor);
      await withServices(options, async ({ accounts, audit }) => {
        const c = await accounts.addCustomer(name, options.email, options.lang);
        await audit.record(actor, { action: 'customer.add', subject: c.name, customerId: c.id, detail: { email: c.email } });
        if (options.json) printJson({ name: c.name, email: c.email, created_at: isoOrNull(c.createdAt) });
        else printLine(`customer "${c.name}" added (${c.email})`);
      });
    });
  command(customer, 'list', 'list customers').action(async (options: CommonOptions) => {
    await withServices(options, async ({ accounts }) => {
      const list = await accounts.listCustomers();
      if (options.json) {
        return printJson(list.map((c) => ({ name: c.name, email: c.email, credentials: c.credentialCount, created_at: isoOrNull(c.createdAt) })));
      }
      printTable(['NAME', 'EMAIL', 'CREDENTIALS', 'CREATED'], list.map((c) => [c.name, c.email, c.credentialCount, when(c.createdAt)]));
    });
  });

  const credential = program.command('credential').description('credentials: the username and password a customer sends with');
  command(credential, 'add', 'create a credential with a generated password')
    .requiredOption('--customer <name>', 'the customer who owns it')
    .option('--username <username>', 'the username (default: derived from the customer name)')
    .option(...ACTOR_OPTION)
    .action(async (options: CommonOptions & { customer: string; username?: string; actor?: string }) => {
      const actor = cliActor(options.actor);
      await withServices(options, async ({ accounts, config, audit }) => {
        const { credential: c, password } = await accounts.addCredential(options.customer, options.username);
        await audit.record(actor, { action: 'credential.add', subject: c.username, customerId: c.customerId });
        printNewPassword(config, c.username, password, c.customerName, options.json, 'Credential created');
      });
    });
  command(credential, 'list', 'list credentials')
    .option('--customer <name>', 'only this customer\'s')
    .action(async (options: CommonOptions & { customer?: string }) => {
      await withServices(options, async ({ accounts }) => {
        const list = await accounts.listCredentials(options.customer);
        if (options.json) return printJson(list.map(credentialJson));
        printTable(
          ['USERNAME', 'CUSTOMER', 'STATE', 'CREATED'],
          list.map((c) => [c.username, c.customerName, c.enabled ? (c.holdReason ? `held: ${c.holdReason}` : 'enabled') : 'disabled', when(c.createdAt)]),
        );
      });
    });
  command(credential, 'show <username>', 'show one credential, its plans and usage').action(async (username: string, options: CommonOptions) => {
    await withServices(options, async ({ accounts, quota }) => {
      const c = await accounts.credential(username);
      const plans = await accounts.listPlans(username);
      const usage = await quota.usage(c.id);
      if (options.json) {
        return printJson({
          ...credentialJson(c),
          plans: plans.map((p) => ({ quota: p.quota, starts_at: isoOrNull(p.startsAt), ends_at: isoOrNull(p.endsAt) })),
          usage: { sent: usage.sent, quota: usage.quota, remaining: usage.remaining },
        });
      }
      printFields([
        ['Username', c.username],
        ['Customer', c.customerName],
        ['State', c.enabled ? 'enabled' : 'disabled'],
        ['Hold', c.holdReason ?? '-'],
        ['Created', when(c.createdAt)],
        ['Quota (active plans)', usage.quota],
        ['Sent (window)', usage.sent],
        ['Plans', plans.length ? '' : 'none'],
      ]);
      for (const p of plans) printLine(`  ${p.quota} per window, ${when(p.startsAt)} to ${when(p.endsAt)}`);
    });
  });
  for (const [verb, enabled] of [['disable', false], ['enable', true]] as const) {
    command(credential, `${verb} <username>`, `${verb} a credential (AUTH ${enabled ? 'works again' : 'is refused with 535'})`)
      .option(...ACTOR_OPTION)
      .action(async (username: string, options: CommonOptions & { actor?: string }) => {
        const actor = cliActor(options.actor);
        await withServices(options, async ({ accounts, audit }) => {
          const c = await accounts.setEnabled(username, enabled);
          await audit.record(actor, { action: `credential.${verb}`, subject: c.username, customerId: c.customerId });
          if (options.json) printJson(credentialJson(c));
          else printLine(`credential "${c.username}" ${enabled ? 'enabled' : 'disabled'}`);
        });
      });
  }
  command(credential, 'password <username>', 'replace the password with a new generated one')
    .option(...ACTOR_OPTION)
    .action(async (username: string, options: CommonOptions & { actor?: string }) => {
      const actor = cliActor(options.actor);
      await withServices(options, async ({ accounts, config, audit }) => {
        const { credential: c, password } = await accounts.resetPassword(username);
        await audit.record(actor, { action: 'credential.password', subject: c.username, customerId: c.customerId });
        printNewPassword(config, c.username, password, c.customerName, options.json, 'New password set');
      });
    });
}
