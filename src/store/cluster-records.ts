import type { SqlDatabase } from './sql.js';

/** A node as it last wrote itself into the registry. */
export interface NodeRecord {
  name: string;
  roles: string[];
  version: string;
  /** Its listeners, "kind address:port". */
  listen: string[];
  /** The outbound addresses it has bound (its outbound.ips), with their EHLO names. */
  outboundIps: { address: string; ehlo: string }[];
  startedAt: number;
  heartbeatAt: number;
  /** Its heartbeat interval: it counts as live while its last heartbeat is within three of these. */
  heartbeatMs: number;
  /** Set by a graceful stop; null while running (or after a crash, when only the heartbeat grows old). */
  stoppedAt: number | null;
  sessions: number;
  deliveries: number;
}

export interface NodeActivity {
  sessions: number;
  deliveries: number;
}

export interface JobLease {
  job: string;
  holder: string;
  expiresAt: number;
}

export interface JobRun {
  id: number;
  job: string;
  node: string;
  startedAt: number;
  endedAt: number | null;
}

interface NodeRow {
  name: string;
  roles: string;
  version: string;
  listen: string;
  outbound_ips: string;
  started_at: number | string;
  heartbeat_at: number | string;
  heartbeat_ms: number | string;
  stopped_at: number | string | null;
  sessions: number | string;
  deliveries: number | string;
}

/** The cluster's shared state: the node registry, the job leases and the record of job runs. */
export class ClusterRecords {
  constructor(private readonly db: SqlDatabase) {}

  /** A node's start: its row is written afresh (a restart under the same name replaces the old one). */
  async register(node: Omit<NodeRecord, 'stoppedAt' | 'sessions' | 'deliveries'>): Promise<void> {
    await this.db.run(
      `INSERT INTO nodes (name, roles, version, listen, outbound_ips, started_at, heartbeat_at, heartbeat_ms, stopped_at, sessions, deliveries)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 0)
       ON CONFLICT (name) DO UPDATE SET roles = excluded.roles, version = excluded.version, listen = excluded.listen,
         outbound_ips = excluded.outbound_ips, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
         heartbeat_ms = excluded.heartbeat_ms, stopped_at = NULL, sessions = 0, deliveries = 0`,
      [
        node.name,
        node.roles.join(','),
        node.version,
        JSON.stringify(node.listen),
        JSON.stringify(node.outboundIps),
        node.startedAt,
        node.heartbeatAt,
        node.heartbeatMs,
      ],
    );
  }

  async heartbeat(name: string, at: number, activity: NodeActivity): Promise<void> {
    await this.db.run('UPDATE nodes SET heartbeat_at = ?, sessions = ?, deliveries = ?, stopped_at = NULL WHERE name = ?', [
      at,
      activity.sessions,
      activity.deliveries,
      name,
    ]);
  }

  async markStopped(name: string, at: number): Promise<void> {
    await this.db.run('UPDATE nodes SET stopped_at = ?, sessions = 0, deliveries = 0 WHERE name = ?', [at, name]);
  }

  async nodes(): Promise<NodeRecord[]> {
    const rows = await this.db.all<NodeRow>('SELECT * FROM nodes ORDER BY name');
    return rows.map((r) => ({
      name: r.name,
      roles: r.roles ? r.roles.split(',') : [],
      version: r.version,
      listen: JSON.parse(r.listen) as string[],
      outboundIps: JSON.parse(r.outbound_ips) as { address: string; ehlo: string }[],
      startedAt: Number(r.started_at),
      heartbeatAt: Number(r.heartbeat_at),
      heartbeatMs: Number(r.heartbeat_ms),
      stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at),
      sessions: Number(r.sessions),
      deliveries: Number(r.deliveries),
    }));
  }

  /**
   * Takes or renews a job lease in one conditional statement: it succeeds only when nobody holds the job, this
   * node already holds it, or the holder's lease has run out. Two nodes can never both succeed for the same
   * moment: the primary key serialises them and the loser's WHERE sees the winner's unexpired lease.
   */
  async takeLease(job: string, holder: string, now: number, expiresAt: number): Promise<boolean> {
    const { changes } = await this.db.run(
      `INSERT INTO job_leases (job, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= ?`,
      [job, holder, expiresAt, now],
    );
    return changes > 0;
  }

  /** Gives a lease up at once (graceful stop): another node may take it on its next try. */
  async releaseLease(job: string, holder: string): Promise<void> {
    await this.db.run('DELETE FROM job_leases WHERE job = ? AND holder = ?', [job, holder]);
  }

  async leases(): Promise<JobLease[]> {
    const rows = await this.db.all<{ job: string; holder: string; expires_at: number | string }>('SELECT job, holder, expires_at FROM job_leases ORDER BY job');
    return rows.map((r) => ({ job: r.job, holder: r.holder, expiresAt: Number(r.expires_at) }));
  }

  async runStarted(job: string, node: string, at: number): Promise<number> {
    const row = await this.db.get<{ id: number | string }>('INSERT INTO job_runs (job, node, started_at) VALUES (?, ?, ?) RETURNING id', [job, node, at]);
    return Number(row?.id);
  }

  async runEnded(id: number, at: number): Promise<void> {
    await this.db.run('UPDATE job_runs SET ended_at = ? WHERE id = ?', [at, id]);
  }

  /** Runs started at or after `since`, oldest first. */
  async runs(since = 0): Promise<JobRun[]> {
    const rows = await this.db.all<{ id: number | string; job: string; node: string; started_at: number | string; ended_at: number | string | null }>(
      'SELECT id, job, node, started_at, ended_at FROM job_runs WHERE started_at >= ? ORDER BY started_at, id',
      [since],
    );
    return rows.map((r) => ({ id: Number(r.id), job: r.job, node: r.node, startedAt: Number(r.started_at), endedAt: r.ended_at === null ? null : Number(r.ended_at) }));
  }

  /** The record of runs is kept for a while, not for ever (the delay-notice scan runs every few seconds). */
  async pruneRuns(before: number): Promise<number> {
    return (await this.db.run('DELETE FROM job_runs WHERE started_at < ?', [before])).changes;
  }
}
