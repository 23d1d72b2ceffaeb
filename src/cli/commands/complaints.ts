import type { Command } from 'commander';
import { InputError, parseDay } from '../../accounts/validation.js';
import { complaintJson } from '../../console/views/complaints.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { printJson, printTable, when } from '../output.js';

/** YYYY-MM-DD (00:00 UTC), or a full ISO 8601 time. */
function parseSince(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
    throw new InputError(`"${text}" is not a time: write YYYY-MM-DD or an ISO 8601 time such as 2027-03-31T08:00:00Z`);
  }
  return parseDay(text);
}

export function registerComplaintCommands(program: Command): void {
  command(program, 'complaints', 'complaints (ARF reports) received, oldest first, with the credential each was tied to')
    .option('--customer <name>', "only this customer's complaints")
    .option('--since <date>', 'only those received since this day (YYYY-MM-DD, UTC) or time (ISO 8601)')
    .action(async (options: CommonOptions & { customer?: string; since?: string }) => {
      const since = options.since === undefined ? undefined : parseSince(options.since);
      await withServices(options, async ({ complaints, accounts }) => {
        if (options.customer !== undefined && !(await accounts.listCustomers()).some((c) => c.name === options.customer)) {
          throw new InputError(`no customer named "${options.customer}": see "relais customer list"`);
        }
        const list = await complaints.list({ customer: options.customer, since });
        if (options.json) return printJson(list.map(complaintJson));
        printTable(
          ['ID', 'RECEIVED', 'VIA', 'STATUS', 'TYPE', 'CREDENTIAL', 'CUSTOMER', 'MESSAGE', 'FROM', 'NOTE'],
          list.map((c) => [
            c.id,
            when(c.receivedAt),
            c.channel,
            c.status,
            c.feedbackType ?? '-',
            c.username ?? '-',
            c.customer ?? '-',
            c.queueId ?? c.originalMessageId ?? '-',
            c.userAgent ?? c.submittedBy,
            c.error ?? '',
          ]),
        );
      });
    });
}
