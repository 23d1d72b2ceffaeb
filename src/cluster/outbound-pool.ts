import type { RelaisConfig } from '../config/schema.js';
import type { ClusterRecords } from '../store/cluster-records.js';

export interface PoolAddress {
  address: string;
  ehlo: string;
  /** The nodes that have it bound (outbound.ips); more than one is a configuration mistake, shown as it is. */
  nodes: string[];
}

/**
 * The whole outbound pool of the service: every address some registered node has bound, and this
 * configuration's own (a node that has not registered yet, or a command run with a node's configuration).
 */
export async function clusterPool(records: ClusterRecords, config: RelaisConfig): Promise<PoolAddress[]> {
  const pool = new Map<string, PoolAddress>();
  const add = (address: string, ehlo: string, node: string) => {
    const entry = pool.get(address) ?? { address, ehlo, nodes: [] };
    if (!entry.nodes.includes(node)) entry.nodes.push(node);
    pool.set(address, entry);
  };
  for (const ip of config.outbound.ips) add(ip.address, ip.ehlo ?? config.hostname, config.node.name);
  for (const node of await records.nodes()) for (const ip of node.outboundIps) add(ip.address, ip.ehlo, node.name);
  return [...pool.values()].sort((a, b) => compareAddresses(a.address, b.address));
}

function compareAddresses(a: string, b: string): number {
  const key = (ip: string) => (ip.includes(':') ? ip : ip.split('.').map((n) => n.padStart(3, '0')).join('.'));
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
