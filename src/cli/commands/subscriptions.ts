import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InputError, parseDay } from '../../accounts/validation.js';
import { orderView, subscriptionFields } from '../../console/views/subscriptions.js';
import { actorName } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

type ActorOptions = CommonOptions & { actor?: string };

function checkId(text: string, what: string, list: string): number {
  if (!/^\d+$/.test(text)) throw new InputError(`"${text}" is not a ${what} id: see "${list}"`);
  return Number(text);
}

/** --start: a day (YYYY-MM-DD, 00:00 UTC) or an ISO 8601 instant. */
function parseStart(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return parseDay(text);
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw new InputError(`--start "${text}" is not a date: write YYYY-MM-DD or an ISO 8601 time such as 2027-01-01T00:00:00Z`);
  return at;
}

export function registerSubscriptionCommands(program: Command): void {
  command(program, 'sheet <username>', 'write the technical parameter sheet of a credential as a PDF (without its password)')
    .option('--out <file>', 'where to write it (default: USERNAME-parameters.pdf in the current directory)')
    .action(async (username: string, options: CommonOptions & { out?: string }) => {
      await withServices(options, async ({ subscriptions }) => {
        const { pdf, filename } = await subscriptions.sheet(username);
        const file = options.out ?? filename;
        try {
          fs.writeFileSync(file, pdf, { flag: 'wx' });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new InputError(code === 'EEXIST' ? `${file} already exists: give --out a new file name` : `cannot write ${file}: ${(error as Error).message}`);
        }
        if (options.json) return printJson({ file: path.resolve(file), bytes: pdf.length });
        printLine(`parameter sheet of ${username} written to ${file} (${pdf.length} bytes)`);
      });
    });

  command(program, 'subscribe', 'subscribe a credential to an offer: its term starts that day and its quota is added as a plan')
    .requiredOption('--credential <username>', 'the credential')
    .requiredOption('--offer <name>', 'an offer of the configuration (offers)')
    .option('--start <date>', 'first day of the term (default: now)')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (options: ActorOptions & { credential: string; offer: string; start?: string }) => {
      const start = options.start === undefined ? undefined : parseStart(options.start);
      await withServices(options, async ({ subscriptions, audit }) => {
        const actor = actorName(options.actor);
        const s = await subscriptions.subscribe(options.credential, options.offer, start, actor);
        await audit.record({ name: actor, channel: 'cli' }, { action: 'subscription.add', subject: s.username, customerId: s.customerId, detail: { id: s.id, offer: s.offer } });
        if (options.json) return printJson(subscriptionFields(s));
        printLine(`subscription ${s.id}: ${s.username} on "${s.offer}" (${s.quota} per 24 h, ${s.price}) from ${when(s.termStart)} to ${when(s.termEnd)}`);
      });
    });

  const subscription = program.command('subscription').description('subscriptions: offers with terms, renewal, upgrade and downgrade');
  command(subscription, 'list', 'list subscriptions')
    .option('--credential <username>', 'only this credential\'s')
    .option('--customer <name>', 'only this customer\'s')
    .action(async (options: CommonOptions & { credential?: string; customer?: string }) => {
      await withServices(options, async ({ subscriptions }) => {
        const list = await subscriptions.list({ credential: options.credential, customer: options.customer });
        if (options.json) return printJson(list.map(subscriptionFields));
        printTable(
          ['ID', 'CREDENTIAL', 'CUSTOMER', 'OFFER', 'QUOTA', 'TERM START', 'TERM END', 'NEXT OFFER', 'STATUS'],
          list.map((s) => [s.id, s.username, s.customer, s.offer, s.quota, when(s.termStart), when(s.termEnd), s.nextOffer ?? '-', s.status]),
        );
      });
    });
  command(subscription, 'show <id>', 'one subscription: its term, renewal orders and the notices sent').action(async (id: string, options: CommonOptions) => {
    const n = checkId(id, 'subscription', 'relais subscription list');
    await withServices(options, async ({ subscriptions, store }) => {
      const s = await subscriptions.get(n);
      const orders = (await subscriptions.orders()).filter((o) => o.subscriptionId === s.id);
      const notices = await store.subscriptions.noticesSent(s.id);
      if (options.json) {
        return printJson({ ...subscriptionFields(s), renewal_orders: orders.map(orderView), notices: notices.map((x) => ({ kind: x.kind, term_end: isoOrNull(x.termEnd), sent_at: isoOrNull(x.sentAt), queue_id: x.queueId })) });
      }
      printFields([
        ['Id', s.id],
        ['Credential', s.username],
        ['Customer', s.customer],
        ['Offer', `${s.offer} (${s.quota} per 24 h, ${s.price})`],
        ['Term', `${when(s.termStart)} to ${when(s.termEnd)}`],
        ['Next term', s.nextOffer ? `downgrade to "${s.nextOffer}" asked` : 'same offer'],
        ['Status', s.status],
      ]);
      printLine('');
      printTable(['ORDER', 'TERM START', 'TERM END', 'VALIDATED', 'BY'], orders.map((o) => [o.id, when(o.termStart), when(o.termEnd), when(o.validatedAt), o.validatedBy ?? '-']));
      printLine('');
      printTable(['NOTICE', 'SENT', 'QUEUE ID'], notices.map((x) => [x.kind, when(x.sentAt), x.queueId ?? '-']));
    });
  });
  command(subscription, 'upgrade <id>', 'move to a bigger offer at once; the price difference for the rest of the term is charged')
    .requiredOption('--offer <name>', 'the bigger offer')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (id: string, options: ActorOptions & { offer: string }) => {
      const n = checkId(id, 'subscription', 'relais subscription list');
      await withServices(options, async ({ subscriptions, audit }) => {
        const actor = actorName(options.actor);
        const { subscription: s, charge } = await subscriptions.upgrade(n, options.offer, actor);
        await audit.record({ name: actor, channel: 'cli' }, { action: 'subscription.upgrade', subject: s.username, customerId: s.customerId, detail: { id: s.id, offer: s.offer, charge } });
        if (options.json) return printJson({ ...subscriptionFields(s), charge });
        printLine(`subscription ${s.id} upgraded to "${s.offer}": ${s.quota} per 24 h from now${charge ? `; charged ${charge} for the rest of the term` : ''}`);
      });
    });
  command(subscription, 'downgrade <id>', 'ask for a smaller offer from the next term (at least lifecycle.downgrade_notice before the end date)')
    .requiredOption('--offer <name>', 'the smaller offer')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (id: string, options: ActorOptions & { offer: string }) => {
      const n = checkId(id, 'subscription', 'relais subscription list');
      await withServices(options, async ({ subscriptions, audit }) => {
        const actor = actorName(options.actor);
        const s = await subscriptions.downgrade(n, options.offer, actor);
        await audit.record({ name: actor, channel: 'cli' }, { action: 'subscription.downgrade', subject: s.username, customerId: s.customerId, detail: { id: s.id, next_offer: s.nextOffer } });
        if (options.json) return printJson(subscriptionFields(s));
        printLine(`subscription ${s.id} moves to "${s.nextOffer}" on ${when(s.termEnd)}, when its next term starts`);
      });
    });

  const lifecycle = program.command('lifecycle').description('the subscription lifecycle job (it also runs in relais start every lifecycle.interval)');
  command(lifecycle, 'run', 'run the lifecycle once now: renewal orders, reminders, renewals and expiries due; safe to repeat').action(async (options: CommonOptions) => {
    await withServices(options, async ({ subscriptions }) => {
      const outcome = await subscriptions.runLifecycle();
      if (options.json) return printJson(outcome);
      printLine(`renewal orders sent: ${outcome.orders}, reminders: ${outcome.reminders}, terms renewed: ${outcome.renewed}, expired: ${outcome.expired}`);
    });
  });

  const renewal = program.command('renewal').description('renewal orders: renewal is never automatic; staff validate each order when paid');
  command(renewal, 'list', 'list renewal orders')
    .option('--open', 'only those not validated yet')
    .action(async (options: CommonOptions & { open?: boolean }) => {
      await withServices(options, async ({ subscriptions }) => {
        const list = await subscriptions.orders({ open: options.open });
        if (options.json) return printJson(list.map(orderView));
        printTable(['ID', 'SUBSCRIPTION', 'TERM START', 'TERM END', 'CREATED', 'VALIDATED', 'BY'], list.map((o) => [o.id, o.subscriptionId, when(o.termStart), when(o.termEnd), when(o.createdAt), when(o.validatedAt), o.validatedBy ?? '-']));
      });
    });
  command(renewal, 'validate <id>', 'validate a paid renewal order: the next term is secured (after the end date: reinstated at once, late fee charged)')
    .option('--actor <name>', 'who is recorded as having done it (default: the system user)')
    .action(async (id: string, options: ActorOptions) => {
      const n = checkId(id, 'renewal order', 'relais renewal list');
      await withServices(options, async ({ subscriptions, audit }) => {
        const actor = actorName(options.actor);
        const { subscription: s, order, reinstated } = await subscriptions.validateRenewal(n, actor);
        await audit.record({ name: actor, channel: 'cli' }, { action: 'renewal.validate', subject: s.username, customerId: s.customerId, detail: { order: order.id, subscription: s.id, reinstated } });
        if (options.json) return printJson({ ...orderView(order), reinstated });
        printLine(`renewal order ${order.id} validated: subscription ${s.id} runs to ${when(order.termEnd)} on "${order.offer}"${reinstated ? '; the credential is reinstated' : ''}`);
      });
    });
}
