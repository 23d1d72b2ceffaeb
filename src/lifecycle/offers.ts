import { InputError } from '../accounts/validation.js';
import { parseFee } from '../reputation/fees.js';
import type { OfferTerms } from '../store/subscriptions.js';

export type OfferCatalog = Record<string, { quota: number; price: string }>;

/** An offer of the catalog (config `offers`), or an error that lists the ones there are. */
export function offerTerms(catalog: OfferCatalog, name: string): OfferTerms {
  const offer = catalog[name];
  if (!offer) {
    const names = Object.keys(catalog);
    throw new InputError(
      names.length
        ? `no offer named "${name}": the offers are ${names.map((n) => `"${n}"`).join(', ')} (config "offers")`
        : `no offer named "${name}": define offers in the configuration first, for example offers: { start: { quota: 1000, price: "60.00 EUR" } }`,
    );
  }
  return { offer: name, quota: offer.quota, price: offer.price };
}

/**
 * The pro rata difference of an upgrade: the price difference times the share of the term left, rounded to the
 * currency's smallest unit (cents), in integers. Null when the prices are in different currencies.
 */
export function proRataDifference(from: string, to: string, remainingMs: number, termMs: number): string | null {
  const a = parseFee('price', from);
  const b = parseFee('price', to);
  if (a.currency !== b.currency) return null;
  const scale = Math.max(2, (a.amount.split('.')[1] ?? '').length, (b.amount.split('.')[1] ?? '').length);
  const units = (amount: string) => {
    const [whole = '0', fraction = ''] = amount.split('.');
    return BigInt(whole + fraction.padEnd(scale, '0'));
  };
  const diff = units(b.amount) - units(a.amount);
  if (diff <= 0n || termMs <= 0) return `0.${'0'.repeat(scale)} ${a.currency}`;
  const share = (diff * BigInt(Math.max(0, Math.round(remainingMs))) + BigInt(Math.floor(termMs / 2))) / BigInt(Math.round(termMs));
  const text = share.toString().padStart(scale + 1, '0');
  return `${text.slice(0, -scale)}.${text.slice(-scale)} ${a.currency}`;
}
