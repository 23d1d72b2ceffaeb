import type { Command } from 'commander';
import type { QueuedMessage, RecipientState } from '../../store/records.js';
import { InputError } from '../../accounts/validation.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printTable, when } from '../output.js';

const STATES: RecipientState[] = ['queued', 'deferred', 'delivered', 'failed'];

function messageJson(m: QueuedMessage) {
  return {
    id: m.id,
    kind: m.kind,
    credential: m.username,
    from: m.mailFrom,
    size: m.size,
    client_ip: m.clientIp,
    envid: m.envid,
    ret: m.ret,
    created_at: isoOrNull(m.createdAt),
    give_up_at: isoOrNull(m.giveUpAt),
    recipients: m.recipients.map((r) => ({
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      next_attempt_at: isoOrNull(r.nextAttemptAt),
      last_attempt_at: isoOrNull(r.lastAttemptAt),
      last_reply: r.lastReply,
      notify: r.notify,
      orcpt: r.orcpt,
    })),
  };
}

function stateSummary(m: QueuedMessage): string {
  const counts = new Map<string, number>();
  for (const r of m.recipients) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('the queue of accepted messages');
  command(queue, 'list', 'list queued messages')
    .option('--state <state>', `only messages with a recipient in this state (${STATES.join(', ')})`)
    .option('--domain <domain>', 'only messages with a recipient at this domain')
    .option('--credential <username>', 'only messages sent with this credential')
    .option('--limit <n>', 'at most this many messages', '1000')
    .action(async (options: CommonOptions & { state?: string; domain?: string; credential?: string; limit: string }) => {
      if (options.state && !STATES.includes(options.state as RecipientState)) {
        throw new InputError(`--state must be one of ${STATES.join(', ')}, not "${options.state}"`);
      }
      await withServices(options, async ({ store }) => {
        const list = await store.listQueue({
          state: options.state as RecipientState | undefined,
          domain: options.domain,
          username: options.credential,
          limit: Number(options.limit) || 1000,
        });
        if (options.json) return printJson(list.map(messageJson));
        printTable(
          ['ID', 'ACCEPTED', 'CREDENTIAL', 'FROM', 'SIZE', 'RECIPIENTS'],
          list.map((m) => [m.id, when(m.createdAt), m.username ?? '-', m.mailFrom || '<>', m.size, stateSummary(m)]),
        );
      });
    });
  command(queue, 'show <id>', 'show a message: envelope, size, credential and each recipient\'s state').action(async (id: string, options: CommonOptions) => {
    await withServices(options, async ({ store }) => {
      const m = await store.findMessage(id);
      if (!m) throw new InputError(`no message with id "${id}" in the queue: see "relais queue list"`);
      if (options.json) return printJson(messageJson(m));
      printFields([
        ['Id', m.id],
        ['Kind', m.kind],
        ['Credential', m.username ?? '-'],
        ['From', m.mailFrom || '<>'],
        ['Size', `${m.size} bytes`],
        ['Client', m.clientIp ?? '-'],
        ['Accepted', when(m.createdAt)],
        ['Gives up at', when(m.giveUpAt)],
        ['DSN', `RET=${m.ret ?? '-'} ENVID=${m.envid ?? '-'}`],
      ]);
      process.stdout.write('\n');
      printTable(
        ['RECIPIENT', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST REPLY'],
        m.recipients.map((r) => [r.address, r.state, r.attempts, r.state === 'queued' || r.state === 'deferred' ? when(r.nextAttemptAt) : '-', r.lastReply ?? '-']),
      );
    });
  });
}
