import type { Store } from '../store/store.js';
import { nodeState, type NodeState } from './node-registry.js';

export interface NodeView {
  name: string;
  roles: string[];
  version: string;
  listen: string[];
  outboundIps: string[];
  startedAt: number;
  heartbeatAt: number;
  state: NodeState;
  sessions: number;
  deliveries: number;
  /** The service jobs whose lease this node holds now. */
  jobs: string[];
}

/** Every node the store has seen, with its state and the jobs it holds: `relais node list`. */
export async function listNodes(store: Store, now: number): Promise<NodeView[]> {
  const [nodes, leases] = await Promise.all([store.cluster.nodes(), store.cluster.leases()]);
  return nodes.map((n) => {
    const state = nodeState(n, now);
    return {
      name: n.name,
      roles: n.roles,
      version: n.version,
      listen: n.listen,
      outboundIps: n.outboundIps.map((ip) => ip.address),
      startedAt: n.startedAt,
      heartbeatAt: n.heartbeatAt,
      state,
      // What a stopped or lost node last said is not what it is doing now.
      sessions: state === 'live' ? n.sessions : 0,
      deliveries: state === 'live' ? n.deliveries : 0,
      jobs: leases.filter((l) => l.holder === n.name && l.expiresAt > now).map((l) => l.job),
    };
  });
}
