import type { Command } from 'commander';
import type { QueuedMessage, RecipientState } from '../../store/records.js';
import { QUEUE_SHAPE_BUCKETS_MINUTES } from '../../store/delivery-records.js';
import { deleteQueuedMessage } from '../../queue/delete-message.js';
import { attemptView } from '../../delivery/attempt-view.js';
import { InputError } from '../../accounts/validation.js';
import { actorName, staffNote } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

const STATES: RecipientState[] = ['queued', 'deferred', 'held', 'delivered', 'failed'];

function messageJson(m: QueuedMessage) {
  return {
    id: m.id,
    kind: m.kind,
    credential: m.username,
    on_behalf_of: m.onBehalfOf,
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
          list.map((m) => [m.id, when(m.createdAt), m.username ?? (m.onBehalfOf ? `(notice for ${m.onBehalfOf})` : '-'), m.mailFrom || '<>', m.size, stateSummary(m)]),
        );
      });
    });
  command(queue, 'show <id>', 'show a message: envelope, size, credential, each recipient\'s state and every delivery attempt').action(async (id: string, options: CommonOptions) => {
    await withServices(options, async ({ store }) => {
      const m = await store.findMessage(id);
      if (!m) throw new InputError(`no message with id "${id}" in the queue: see "relais queue list"`);
      const attempts = await store.delivery.attempts(id);
      if (options.json) return printJson({ ...messageJson(m), attempts: attempts.map(attemptView) });
      printFields([
        ['Id', m.id],
        ['Kind', m.kind],
        ['Credential', m.username ?? '-'],
        ...(m.onBehalfOf ? ([['On behalf of', `${m.onBehalfOf} (a notice about its mail; counts against no quota)`]] as [string, string][]) : []),
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
      process.stdout.write('\nAttempts:\n');
      printTable(
        ['TIME', 'MX', 'SOURCE IP', 'TLS', 'OUTCOME', 'REPLY'],
        attempts.map((a) => [when(a.at), a.mx ? `${a.mx} [${a.remoteIp}]` : '-', a.sourceIp ?? '-', a.tlsVersion ?? 'none', a.outcome, a.reply]),
      );
    });
  });

  command(queue, 'retry [id]', 'make pending recipients due now: of one message, or with --all of every message')
    .option('--all', 'every message in the queue')
    .action(async (id: string | undefined, options: CommonOptions & { all?: boolean }) => {
      if (!id === !options.all) throw new InputError('give a message id or --all (one of them)');
      await withServices(options, async ({ store, clock }) => {
        if (id && !(await store.findMessage(id))) throw new InputError(`no message with id "${id}" in the queue: see "relais queue list"`);
        const n = await store.delivery.retryNow(id ?? null, clock.now());
        if (options.json) return printJson({ id: id ?? null, recipients: n });
        process.stdout.write(`${n} recipient(s) due now\n`);
      });
    });

  command(queue, 'delete <id>', 'delete a message from the queue; with --notify, its sender gets a failure notice first')
    .option('--notify', 'tell the sender that the pending recipients will not be delivered')
    .option('--note <text>', "why, for the history of the message's credential")
    .option('--actor <name>', 'who decides (default: the operating-system user)')
    .action(async (id: string, options: CommonOptions & { notify?: boolean; note?: string; actor?: string }) => {
      const note = options.note === undefined ? null : staffNote(options.note);
      const actor = actorName(options.actor);
      await withServices(options, async (services) => {
        const message = await services.store.delivery.message(id);
        if (!message) throw new InputError(`no message with id "${id}" in the queue: see "relais queue list"`);
        const outcome = await deleteQueuedMessage(services, id, { notify: Boolean(options.notify), actor, note });
        const notice = outcome?.notice ? { id: outcome.notice } : null;
        if (options.json) return printJson({ id, deleted: true, notice: notice?.id ?? null });
        printLine(`message ${id} deleted${notice ? `; failure notice ${notice.id} queued to ${message.mailFrom}` : ''}`);
      });
    });

  command(queue, 'release', 'deliver the mail held while a credential is suspended (the suspension itself stays)')
    .requiredOption('--credential <username>', 'the suspended credential whose held mail goes out')
    .option('--note <text>', 'why, for the credential\'s history')
    .option('--actor <name>', 'who decides (default: the operating-system user)')
    .action(async (options: CommonOptions & { credential: string; note?: string; actor?: string }) => {
      const note = options.note === undefined ? null : staffNote(options.note);
      const actor = actorName(options.actor);
      await withServices(options, async ({ accounts, suspensions }) => {
        const credential = await accounts.credential(options.credential);
        const released = await suspensions.releaseHeldMail(credential.id, { actor, note });
        if (options.json) return printJson({ credential: credential.username, ...released });
        printLine(`${released.messages} held message(s) of "${credential.username}" released (${released.recipients} recipient(s) due now)`);
      });
    });

  command(queue, 'shape', 'pending recipients per destination domain by age, like Postfix\'s qshape').action(async (options: CommonOptions) => {
    await withServices(options, async ({ store, clock }) => {
      const rows = await store.delivery.shape(clock.now());
      const labels = [...QUEUE_SHAPE_BUCKETS_MINUTES.map((m) => `<${m}m`), `>=${QUEUE_SHAPE_BUCKETS_MINUTES[QUEUE_SHAPE_BUCKETS_MINUTES.length - 1]}m`];
      if (options.json) return printJson(rows.map((r) => ({ domain: r.domain, total: r.total, by_age_minutes: Object.fromEntries(labels.map((l, i) => [l, r.buckets[i] ?? 0])) })));
      const totals = labels.map((_, i) => rows.reduce((n, r) => n + (r.buckets[i] ?? 0), 0));
      printTable(['DOMAIN', 'TOTAL', ...labels], [
        ['TOTAL', rows.reduce((n, r) => n + r.total, 0), ...totals],
        ...rows.map((r) => [r.domain, r.total, ...r.buckets]),
      ]);
    });
  });
}
