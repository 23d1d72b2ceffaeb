import type { SuspensionReason } from './suspensions.js';

/**
 * The price list of staff work (config `fees`), as billable lines. Amounts stay decimal strings and are summed
 * as scaled integers: a binary float would bill 0.1 + 0.2 as 0.30000000000000004.
 */
export const FEE_NAMES = ['reinstatement', 'blocklist_removal', 'late_reinstatement'] as const;
export type FeeName = (typeof FEE_NAMES)[number];
export type FeeSchedule = Partial<Record<FeeName, string>>;

export interface FeeLine {
  fee: string;
  amount: string;
  currency: string;
}

/** "50.00 EUR": an amount (up to 3 decimals, as some currencies have) and an ISO 4217 code. */
export const FEE_PATTERN = /^(\d{1,12})(?:\.(\d{1,3}))? ([A-Z]{3})$/;
export const FEE_FORMAT_HINT = 'expected "AMOUNT CURRENCY" with an ISO 4217 code, for example "50.00 EUR"';

export function parseFee(fee: string, text: string): FeeLine {
  const match = FEE_PATTERN.exec(text);
  if (!match) throw new Error(`fees.${fee}: "${text}" is not a price: ${FEE_FORMAT_HINT}`);
  return { fee, amount: `${match[1]}${match[2] === undefined ? '' : `.${match[2]}`}`, currency: match[3] as string };
}

/**
 * What a reinstatement after a suspension for `reason` costs: the reinstatement fee for every reason staff lift,
 * and the blocklist operators' removal work on top when a listing caused it. Quota lifts by itself: nothing.
 */
export function feesFor(reason: SuspensionReason, schedule: FeeSchedule): FeeLine[] {
  if (reason === 'quota') return [];
  // A lapsed subscription put back after its end date pays the late fee, not the one for staff's abuse work.
  const names: FeeName[] =
    reason === 'blocklist' ? ['reinstatement', 'blocklist_removal'] : reason === 'expired' ? ['late_reinstatement'] : ['reinstatement'];
  return names.flatMap((name) => {
    const text = schedule[name];
    return text === undefined ? [] : [parseFee(name, text)];
  });
}

/** Sum per currency, in the greatest precision any of its lines has. */
export function totalsByCurrency(lines: readonly { amount: string; currency: string }[]): { currency: string; amount: string }[] {
  const sums = new Map<string, { units: bigint; scale: number }>();
  for (const line of lines) {
    const [whole = '0', fraction = ''] = line.amount.split('.');
    const sum = sums.get(line.currency) ?? { units: 0n, scale: 0 };
    const scale = Math.max(sum.scale, fraction.length);
    const units = sum.units * 10n ** BigInt(scale - sum.scale) + BigInt(whole + fraction.padEnd(scale, '0'));
    sums.set(line.currency, { units, scale });
  }
  return [...sums]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, { units, scale }]) => {
      const digits = units.toString().padStart(scale + 1, '0');
      return { currency, amount: scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}` };
    });
}
