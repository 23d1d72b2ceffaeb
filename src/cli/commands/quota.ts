import type { Command } from 'commander';
import { describeWindow } from '../../shared/time-format.js';
import { ACTOR_OPTION, cliActor } from '../actor.js';
import { command, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printFields, printJson, printLine, printTable, when } from '../output.js';

export function registerQuotaCommands(program: Command): void {
  const plan = program.command('plan').description('plans: quota per sliding window over a period; active plans add up');
  command(plan, 'add', 'add a plan to a credential (starts now unless --start)')
    .requiredOption('--credential <username>', 'the credential')
    .requiredOption('--quota <n>', 'messages (recipients) per sliding 24 hours')
    .option('--days <d>', 'length of the plan in days (default 365)')
    .option('--until <YYYY-MM-DD>', 'last day of the plan, included')
    .option('--start <YYYY-MM-DD>', 'first day of the plan (default: now)')
    .option(...ACTOR_OPTION)
    .action(async (options: CommonOptions & { credential: string; quota: string; days?: string; until?: string; start?: string; actor?: string }) => {
      const actor = cliActor(options.actor);
      await withServices(options, async ({ accounts, audit }) => {
        const p = await accounts.addPlan(options.credential, {
          quota: Number(options.quota),
          days: options.days === undefined ? undefined : Number(options.days),
          until: options.until,
          start: options.start,
        });
        const c = await accounts.credential(options.credential);
        await audit.record(actor, {
          action: 'plan.add',
          subject: c.username,
          customerId: c.customerId,
          detail: { quota: p.quota, starts_at: isoOrNull(p.startsAt), ends_at: isoOrNull(p.endsAt) },
        });
        if (options.json) return printJson({ credential: options.credential, quota: p.quota, starts_at: isoOrNull(p.startsAt), ends_at: isoOrNull(p.endsAt) });
        printLine(`plan added to "${options.credential}": ${p.quota} per window, ${when(p.startsAt)} to ${when(p.endsAt)}`);
      });
    });
  command(plan, 'list', 'list a credential\'s plans')
    .requiredOption('--credential <username>', 'the credential')
    .action(async (options: CommonOptions & { credential: string }) => {
      await withServices(options, async ({ accounts, clock }) => {
        const plans = await accounts.listPlans(options.credential);
        const now = clock.now();
        const state = (s: number, e: number) => (now < s ? 'future' : now >= e ? 'ended' : 'active');
        if (options.json) {
          return printJson(plans.map((p) => ({ quota: p.quota, starts_at: isoOrNull(p.startsAt), ends_at: isoOrNull(p.endsAt), state: state(p.startsAt, p.endsAt) })));
        }
        printTable(['QUOTA', 'STARTS', 'ENDS', 'STATE'], plans.map((p) => [p.quota, when(p.startsAt), when(p.endsAt), state(p.startsAt, p.endsAt)]));
      });
    });

  command(program, 'usage <username>', 'what a credential sent over the sliding window, what remains, its bounce rate, and whether it is suspended').action(
    async (username: string, options: CommonOptions) => {
      await withServices(options, async ({ accounts, quota, bounces }) => {
        const c = await accounts.credential(username);
        const u = await quota.usage(c.id);
        const b = await bounces.standing(c.id);
        const window = describeWindow(u.windowMs);
        const bounceWindow = describeWindow(b.windowMs);
        const limit = bounces.settings.maxRate;
        const suspension = !c.enabled
          ? { reason: 'disabled', lifts_at: null }
          : c.holdReason
            ? { reason: c.holdReason, lifts_at: null }
            : u.suspended && { reason: u.suspended.reason, lifts_at: isoOrNull(u.suspended.liftsAt) };
        if (options.json) {
          return printJson({
            username: c.username,
            window,
            sent: u.sent,
            in_progress: u.held,
            quota: u.quota,
            remaining: u.remaining,
            suspended: suspension || null,
            next_free_at: isoOrNull(u.nextFreeAt),
            bounces: {
              window: bounceWindow,
              attempted: b.attempted,
              failed: b.failed,
              rate: b.rate,
              max_rate: limit ?? null,
              min_recipients_for_rate: bounces.settings.minRecipients,
            },
            notices: { window: bounceWindow, queued: b.notices },
          });
        }
        let status = 'active';
        if (suspension) {
          const reason = suspension.reason === 'no_plan' ? 'no active plan' : suspension.reason;
          status = `suspended: ${reason}${u.suspended?.liftsAt && suspension.reason === 'quota' ? `, lifts at ${when(u.suspended.liftsAt)}` : ''}`;
        }
        printFields([
          ['Credential', c.username],
          [`Sent (last ${window})`, u.sent],
          ['In progress', u.held],
          ['Quota', u.quota],
          ['Remaining', u.remaining],
          ['Status', status],
          ['Next unit frees at', when(u.nextFreeAt)],
          [
            `Bounce rate (last ${bounceWindow})`,
            b.rate === null
              ? 'no recipient attempted'
              : `${(b.rate * 100).toFixed(1)}% (${b.failed} failed of ${b.attempted} attempted recipients)${
                  limit === undefined ? '' : `; limit ${(limit * 100).toFixed(1)}% from ${bounces.settings.minRecipients} recipients`
                }`,
          ],
          [`Notices sent (last ${bounceWindow})`, `${b.notices} (count against no quota)`],
        ]);
      });
    },
  );
}
