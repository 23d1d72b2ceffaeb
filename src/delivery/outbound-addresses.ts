import { clusterPool } from '../cluster/outbound-pool.js';
import type { RelaisConfig } from '../config/schema.js';
import type { Clock } from '../shared/clock.js';
import type { IpActivity } from '../store/delivery-records.js';
import type { Store } from '../store/store.js';
import { IpPool } from './ip-pool.js';

export interface OutboundAddressState {
  /** The configured address, or null for the system's default (no outbound.ips). */
  address: string | null;
  ehlo: string;
  /** The nodes that have it bound (from the node registry); this node's name for the system default. */
  nodes: string[];
  state: 'active' | 'avoided' | 'listed';
  listings: { zone: string; code: string | null; reason: string | null; since: number | null }[];
  avoidedFor: { destination: string; until: number; reason: string | null }[];
  sent24h: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

/**
 * Each outbound address of the whole pool (every node's, from the node registry) as the relay sees it now: listed in a monitored zone, avoided for some destinations,
 * or active; with what it sent over 24 hours and its last error. `relais ip list` and the console's address page
 * both show this.
 */
export async function outboundAddressStates(deps: { store: Store; clock: Clock; config: RelaisConfig }): Promise<OutboundAddressState[]> {
  const { store, clock, config } = deps;
  const now = clock.now();
  const shared = await clusterPool(store.cluster, config);
  // Without any outbound.ips anywhere, the one entry is the system's default address.
  const pool = shared.length ? shared : IpPool.fromConfig([], config.hostname).ips.map((ip) => ({ ...ip, nodes: [config.node.name] }));
  const avoidances = await store.delivery.avoidances(now);
  const activity = await store.delivery.ipActivity(now - 86_400_000);
  // As the relay sees them: zones no longer in dnsbl.ip_zones take nothing out of rotation.
  const listings = (await store.blocklists.listedIps()).filter((l) => config.dnsbl.ip_zones.includes(l.zone));
  return pool.map((entry) => {
    const avoided = avoidances.filter((a) => a.sourceIp === entry.address);
    // Without outbound.ips every attempt left from an address the system chose: all of them are this entry's.
    const act = entry.address === null ? combined(activity) : activity.find((a) => a.sourceIp === entry.address);
    const listed = listings.filter((l) => l.subject === entry.address);
    return {
      address: entry.address,
      ehlo: entry.ehlo,
      nodes: entry.nodes,
      state: listed.length ? 'listed' : avoided.length ? 'avoided' : 'active',
      listings: listed.map((l) => ({ zone: l.zone, code: l.code, reason: l.reason, since: l.since })),
      avoidedFor: avoided.map((a) => ({ destination: a.destination, until: a.until, reason: a.reason })),
      sent24h: act?.delivered ?? 0,
      lastError: act?.lastError ?? null,
      lastErrorAt: act?.lastErrorAt ?? null,
    };
  });
}

function combined(rows: readonly IpActivity[]): IpActivity | undefined {
  if (rows.length === 0) return undefined;
  const latest = rows.filter((r) => r.lastErrorAt !== null).sort((a, b) => (b.lastErrorAt ?? 0) - (a.lastErrorAt ?? 0))[0];
  return {
    sourceIp: '(system default)',
    delivered: rows.reduce((sum, r) => sum + r.delivered, 0),
    lastError: latest?.lastError ?? null,
    lastErrorAt: latest?.lastErrorAt ?? null,
  };
}
