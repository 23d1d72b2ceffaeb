import net from 'node:net';
import { InputError } from '../accounts/validation.js';

/**
 * The relay's SPF record, which customers include (`include:_spf.HOSTNAME`). It lists every outbound address as
 * ip4:/ip6: (no DNS lookup each) and ends in `-all`: the record means "exactly these addresses". An include
 * counts only its pass, so the `-all` never fails a customer's other sources; it matters only to whoever uses
 * the record through redirect= or as the relay's own HELO policy, where a hard fail for any other address is right.
 *
 * A TXT string holds at most 255 characters: when the addresses do not fit, the first record includes the next
 * ones (`_spf2.HOSTNAME`, ...), one level deep. Each costs the customer one of the 10 DNS lookups SPF allows, so
 * at most MAX_RECORDS are made.
 */
export interface SpfRecord {
  name: string;
  value: string;
}

export interface SpfPlan {
  /** The name customers include. */
  root: string;
  records: SpfRecord[];
  /** The mechanisms listed, in order. */
  mechanisms: string[];
  /** DNS lookups one `include:ROOT` costs a customer's SPF evaluation. */
  lookups: number;
}

export const MAX_STRING = 255;
export const MAX_RECORDS = 5;

export function spfRootName(config: { hostname: string; spf: { domain?: string } }): string {
  return (config.spf.domain ?? `_spf.${config.hostname}`).replace(/\.$/, '').toLowerCase();
}

/** `_spf.relay.example` -> `_spf2.relay.example`; any other root gets the prefix. */
export function subRecordName(root: string, n: number): string {
  return root.startsWith('_spf.') ? `_spf${n}.${root.slice('_spf.'.length)}` : `_spf${n}.${root}`;
}

/**
 * `addresses` are outbound.ips; none configured means the system picks the source address, which the record
 * can only name through the relay's host name (`a:HOSTNAME`, one lookup more).
 */
export function planSpf(root: string, addresses: readonly string[], hostname: string): SpfPlan {
  const unique = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const mechanisms = unique.length === 0 ? [`a:${hostname}`] : unique.map((a) => (net.isIPv6(a) ? `ip6:${a}` : `ip4:${a}`));
  for (let count = 1; count <= MAX_RECORDS; count++) {
    const records = pack(root, mechanisms, count);
    if (records) {
      const hostLookups = unique.length === 0 ? 1 : 0;
      return { root, records, mechanisms, lookups: records.length + hostLookups };
    }
  }
  throw new InputError(
    `the ${mechanisms.length} outbound addresses do not fit in ${MAX_RECORDS} SPF records of ${MAX_STRING} characters: more would cost customers too many of SPF's 10 DNS lookups; publish the addresses as CIDR ranges in a record of your own and point spf.domain at it`,
  );
}

/** Fills the root first (after its includes), then each sub-record; null when `count` records are not enough. */
function pack(root: string, mechanisms: readonly string[], count: number): SpfRecord[] | null {
  const names = Array.from({ length: count }, (_, i) => (i === 0 ? root : subRecordName(root, i + 1)));
  const includes = names.slice(1).map((n) => `include:${n}`);
  const bodies: string[][] = names.map(() => []);
  const length = (i: number, extra: string[]) => ['v=spf1', ...(bodies[i] as string[]), ...extra, ...(i === 0 ? includes : []), '-all'].join(' ').length;
  let current = 0;
  for (const mechanism of mechanisms) {
    while (current < count && length(current, [mechanism]) > MAX_STRING) current++;
    if (current >= count) return null;
    (bodies[current] as string[]).push(mechanism);
  }
  // An empty sub-record would cost a lookup for nothing: fewer records would have done.
  if (bodies.some((b, i) => i > 0 && b.length === 0)) return null;
  return names.map((name, i) => ({ name, value: ['v=spf1', ...(bodies[i] as string[]), ...(i === 0 ? includes : []), '-all'].join(' ') }));
}
