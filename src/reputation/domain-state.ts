import type { Listing } from '../store/blocklists.js';

export interface DomainBlocklistState {
  state: string;
  listed: boolean;
  zones: { zone: string; listed: boolean; reason: string | null; error: string | null }[];
}

/** The blocklist state of one domain across the monitored zones, in a few words (`relais domains`, the console). */
export function domainState(listings: readonly Listing[], zones: readonly string[]): DomainBlocklistState {
  const own = listings.filter((l) => zones.includes(l.zone));
  const listed = own.filter((l) => l.listed);
  const state = zones.length === 0 ? 'not monitored' : listed.length ? `listed (${listed.map((l) => `${l.zone}: ${l.reason ?? l.code}`).join('; ')})` : own.length === 0 ? 'not checked yet' : own.some((l) => l.error) ? 'clear (some lookups failed)' : 'clear';
  return { state, listed: listed.length > 0, zones: own.map((l) => ({ zone: l.zone, listed: l.listed, reason: l.reason, error: l.error })) };
}
