import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { ClusterRecords, NodeActivity, NodeRecord } from '../store/cluster-records.js';

/** A heartbeat is this many intervals old before the node counts as gone. */
const LIVE_FOR_BEATS = 3;

export type NodeState = 'live' | 'stopped' | 'lost';

/** Live: heartbeat within three of its intervals; stopped: it said so; lost: it went silent (killed, cut off). */
export function nodeState(node: NodeRecord, now: number): NodeState {
  if (node.stoppedAt !== null) return 'stopped';
  return now - node.heartbeatAt <= LIVE_FOR_BEATS * node.heartbeatMs ? 'live' : 'lost';
}

export interface NodeRegistryOptions {
  records: ClusterRecords;
  node: Omit<NodeRecord, 'stoppedAt' | 'sessions' | 'deliveries' | 'startedAt' | 'heartbeatAt'>;
  /** Real time: the registry is read by people and other nodes, not by the business clock. */
  clock: Clock;
  /** What the node is doing now, read at each heartbeat (cheap in-memory counters). */
  activity: () => NodeActivity;
  logger: Logger;
}

/** Writes this node into the store at start, beats every heartbeat interval with its activity, and marks its stop. */
export class NodeRegistry {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(private readonly options: NodeRegistryOptions) {}

  async start(): Promise<void> {
    const now = this.options.clock.now();
    await this.options.records.register({ ...this.options.node, startedAt: now, heartbeatAt: now });
    this.timer = setInterval(() => void this.beat(), this.options.node.heartbeatMs);
    this.timer.unref();
  }

  private beat(): Promise<void> {
    this.beating ??= this.options.records
      .heartbeat(this.options.node.name, this.options.clock.now(), this.options.activity())
      .catch((error: Error) => this.options.logger.warn({ event: 'heartbeat_failed', error: error.message }, 'could not write the node heartbeat; trying again'))
      .finally(() => (this.beating = undefined));
    return this.beating;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.options.records
      .markStopped(this.options.node.name, this.options.clock.now())
      .catch((error: Error) => this.options.logger.warn({ event: 'node_stop_record_failed', error: error.message }, 'could not mark this node stopped; it will show as lost'));
  }
}
