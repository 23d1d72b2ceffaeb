import type { Command } from 'commander';
import { InputError, parseDay } from '../../accounts/validation.js';
import { listCharges } from '../../console/views/charges.js';
import { isSuspensionReason, liftedByStaff, SUSPENSION_REASONS } from '../../reputation/suspensions.js';
import type { CredentialEvent } from '../../store/credential-history.js';
import { actorName, staffNote } from '../actor.js';
import type { Actor } from '../../accounts/staff-audit.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printLine, printTable, when } from '../output.js';

const cli = (name: string): Actor => ({ name, channel: 'cli' });

const STAFF_REASONS = SUSPENSION_REASONS.filter((r) => liftedByStaff(r));

interface StaffOptions extends CommonOptions {
  actor?: string;
  note: string;
}

/** "2026-11-01" (that day, 00:00 UTC) or an ISO 8601 instant with its zone ("2026-11-01T09:30:00Z"). */
export function parseSince(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return parseDay(text);
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw new InputError(`--since "${text}" is not a date: write YYYY-MM-DD or an ISO 8601 time such as 2026-11-01T09:30:00Z`);
  return at;
}

function eventJson(e: CredentialEvent) {
  return { at: isoOrNull(e.at), event: e.kind, reason: e.reason, actor: e.actor, note: e.note, detail: e.detail };
}

/** A detail object as "key=value" pairs, nested values as JSON: one table cell. */
function detailText(detail: Record<string, unknown> | null): string {
  if (!detail) return '-';
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)}`)
    .join(' ');
}

export function registerSuspensionCommands(program: Command): void {
  command(program, 'suspend <username>', 'suspend a credential: AUTH still works, MAIL FROM is refused with 550, its queued mail is held')
    .requiredOption('--reason <reason>', `why (${STAFF_REASONS.join(', ')}); quota suspensions are automatic`)
    .requiredOption('--note <text>', 'what happened, for the history staff and the customer read')
    .option('--actor <name>', 'who decides (default: the operating-system user)')
    .action(async (username: string, options: StaffOptions & { reason: string }) => {
      const reason = options.reason;
      if (reason === 'quota') throw new InputError('quota suspensions are automatic and lift by themselves as the window slides: give another --reason');
      if (!isSuspensionReason(reason)) throw new InputError(`--reason must be one of ${STAFF_REASONS.join(', ')}, not "${reason}"`);
      const note = staffNote(options.note);
      const actor = actorName(options.actor);
      await withServices(options, async ({ accounts, suspensions, store, audit }) => {
        const credential = await accounts.credential(username);
        const event = await suspensions.suspend(credential.id, reason, { actor, note });
        if (!event) {
          const now = await accounts.credential(username);
          throw new InputError(
            `credential "${username}" is already suspended (${now.holdReason ?? 'unknown'} since ${when(now.holdSince)}): see "relais history ${username}"`,
          );
        }
        const held = await store.heldMail.summary(credential.id);
        await audit.record(cli(actor), { action: 'credential.suspend', subject: credential.username, customerId: credential.customerId, detail: { reason, note } });
        if (options.json) return printJson({ username, reason, since: isoOrNull(event.at), actor, note, held });
        printLine(`credential "${username}" suspended (${reason} since ${when(event.at)}); ${held.messages} queued message(s) held`);
      });
    });

  command(program, 'reinstate <username>', 'lift a suspension (releasing the held mail and recording the fees), or with --refuse record a refusal')
    .requiredOption('--note <text>', 'why, for the history staff and the customer read')
    .option('--refuse', 'refuse the reinstatement: the credential stays suspended, the refusal is recorded')
    .option('--waive-fees', 'reinstate without charging the fees (recorded as waived)')
    .option('--actor <name>', 'who decides (default: the operating-system user)')
    .action(async (username: string, options: StaffOptions & { refuse?: boolean; waiveFees?: boolean }) => {
      if (options.refuse && options.waiveFees) throw new InputError('--waive-fees is for a reinstatement, not a refusal: give one of them');
      const note = staffNote(options.note);
      const actor = actorName(options.actor);
      await withServices(options, async ({ accounts, suspensions, audit }) => {
        const credential = await accounts.credential(username);
        const subject = { subject: credential.username, customerId: credential.customerId };
        if (options.refuse) {
          const event = await suspensions.refuse(credential.id, { actor, note });
          await audit.record(cli(actor), { action: 'credential.refuse', ...subject, detail: { reason: event.reason, note } });
          if (options.json) return printJson({ username, refused: true, reason: event.reason, at: isoOrNull(event.at), actor, note });
          return printLine(`reinstatement of "${username}" refused; it stays suspended (${event.reason ?? '-'})`);
        }
        const done = await suspensions.reinstate(credential.id, { actor, note, waiveFees: options.waiveFees });
        await audit.record(cli(actor), {
          action: 'credential.reinstate',
          ...subject,
          detail: { reason: done.event.reason, note, waive_fees: Boolean(options.waiveFees), released_messages: done.released.messages },
        });
        if (options.json) {
          return printJson({ username, reinstated: true, reason: done.event.reason, at: isoOrNull(done.event.at), actor, note, charges: done.charges, released: done.released });
        }
        const charged = done.charges.length ? done.charges.map((c) => `${c.fee} ${c.amount} ${c.currency}`).join(', ') : 'no fee';
        printLine(`credential "${username}" reinstated; ${done.released.messages} held message(s) released; charged: ${charged}`);
      });
    });

  command(program, 'history <username>', 'everything that happened to a credential: suspensions, reinstatements, refusals, complaints, listings, charges').action(
    async (username: string, options: CommonOptions) => {
      await withServices(options, async ({ accounts, suspensions }) => {
        const credential = await accounts.credential(username);
        const events = await suspensions.history(credential.id);
        if (options.json) return printJson(events.map(eventJson));
        printTable(
          ['TIME', 'EVENT', 'REASON', 'ACTOR', 'NOTE', 'DETAIL'],
          events.map((e) => [when(e.at), e.kind, e.reason ?? '-', e.actor, e.note ?? '-', detailText(e.detail)]),
        );
      });
    },
  );

  command(program, 'charges', 'billable events (reinstatement fees, blocklist removal work), with totals per currency')
    .option('--customer <name>', "only this customer's")
    .option('--since <date>', 'only from this date (YYYY-MM-DD, UTC) or ISO 8601 time on')
    .action(async (options: CommonOptions & { customer?: string; since?: string }) => {
      const since = options.since === undefined ? undefined : parseSince(options.since);
      await withServices(options, async (services) => {
        if (options.customer !== undefined && !(await services.store.findCustomer(options.customer))) {
          throw new InputError(`no customer named "${options.customer}": see "relais customer list"`);
        }
        // The console's and the API's view of charges, seen as staff.
        const { charges, totals } = await listCharges(services, { role: 'staff', name: 'cli' }, { customer: options.customer, since });
        if (options.json) return printJson({ charges, totals });
        printTable(
          ['TIME', 'CUSTOMER', 'CREDENTIAL', 'FEE', 'AMOUNT', 'REASON', 'ACTOR'],
          charges.map((c) => [when(Date.parse(c.at)), c.customer, c.credential, c.fee, `${c.amount} ${c.currency}`, c.reason ?? '-', c.actor]),
        );
        for (const t of totals) printLine(`Total: ${t.amount} ${t.currency}`);
      });
    });
}
