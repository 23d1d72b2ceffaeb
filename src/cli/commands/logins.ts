import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import type { Login } from '../../store/logins.js';
import { actorName } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

function loginJson(l: Login) {
  return {
    id: l.id,
    email: l.email,
    role: l.role,
    customer: l.customer,
    created_at: isoOrNull(l.createdAt),
    last_login_at: isoOrNull(l.lastLoginAt),
    disabled_at: isoOrNull(l.disabledAt),
  };
}

type ActorOption = CommonOptions & { actor?: string };

export function registerLoginCommands(program: Command): void {
  const login = program.command('login').description('console logins: staff, or one customer\'s');
  command(login, 'add', 'make a console login (--staff, or --customer NAME); its generated password is shown once')
    .requiredOption('--email <address>', 'the login\'s e-mail address (what is typed on /login)')
    .option('--customer <name>', 'a login that sees only this customer')
    .option('--staff', 'a staff login: sees and manages every customer')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (options: ActorOption & { email: string; customer?: string; staff?: boolean }) => {
      if (Boolean(options.staff) === (options.customer !== undefined)) {
        throw new InputError('say whose login it is: --staff, or --customer NAME (one of the two)');
      }
      await withServices(options, async ({ logins, audit }) => {
        const { login: l, password } = await logins.add(options.email, options.customer ?? null);
        await audit.record(
          { name: actorName(options.actor), channel: 'cli' },
          { action: 'login.add', subject: l.email, customerId: l.customerId, detail: { role: l.role } },
        );
        if (options.json) return printJson({ ...loginJson(l), password });
        printFields([
          ['Email', l.email],
          ['Role', l.role === 'staff' ? 'staff' : `customer "${l.customer}"`],
          ['Password', password],
        ]);
        printLine('');
        printLine('The password is shown only this once: Relais keeps only a hash of it. Sign in at the console\'s /login.');
      });
    });
  command(login, 'list', 'list console logins (never their passwords)').action(async (options: CommonOptions) => {
    await withServices(options, async ({ logins }) => {
      const list = await logins.list();
      if (options.json) return printJson(list.map(loginJson));
      printTable(
        ['EMAIL', 'ROLE', 'CUSTOMER', 'CREATED', 'LAST LOGIN', 'DISABLED'],
        list.map((l) => [l.email, l.role, l.customer ?? '-', when(l.createdAt), when(l.lastLoginAt), when(l.disabledAt)]),
      );
    });
  });
  command(login, 'disable <email>', 'disable a console login: its sessions end at once')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (email: string, options: ActorOption) => {
      await withServices(options, async ({ logins, audit }) => {
        const l = await logins.disable(email);
        await audit.record({ name: actorName(options.actor), channel: 'cli' }, { action: 'login.disable', subject: l.email, customerId: l.customerId });
        if (options.json) return printJson(loginJson(l));
        printLine(`login ${l.email} disabled; its sessions have ended`);
      });
    });
  command(login, 'password <email>', 'give a console login a new generated password (shown once); its sessions end')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (email: string, options: ActorOption) => {
      await withServices(options, async ({ logins, audit }) => {
        const { login: l, password } = await logins.resetPassword(email);
        await audit.record({ name: actorName(options.actor), channel: 'cli' }, { action: 'login.password', subject: l.email, customerId: l.customerId });
        if (options.json) return printJson({ ...loginJson(l), password });
        printFields([
          ['Email', l.email],
          ['Password', password],
        ]);
        printLine('');
        printLine('The password is shown only this once. Sessions opened with the old one have ended.');
      });
    });
}
