import type { AttemptRecord, DeliveryMessage, DueRecipient } from '../store/delivery-records.js';
import type { ConnectionPool } from './connection-pool.js';
import type { DnsLookup } from './dns-lookup.js';
import type { IpPool, OutboundIp } from './ip-pool.js';
import { classifyReply } from './reply-classifier.js';
import { planRoute, type Target } from './routing.js';
import type { TransactionResult } from './smtp-client.js';

/** What one delivery job (one message, one destination domain) did to each of its recipients. */
export interface RecipientVerdict {
  id: number;
  address: string;
  verdict: 'delivered' | 'defer' | 'fail';
  reply: string;
  status: string;
  remoteMta: string | null;
}

export interface JobResult {
  verdicts: RecipientVerdict[];
  attempts: AttemptRecord[];
  /** Source addresses a destination refused during this job, to avoid for it. */
  avoid: { sourceIp: string; destination: string; reason: string }[];
}

export interface JobDeps {
  dns: DnsLookup;
  routes: Readonly<Record<string, string>>;
  port: number;
  /** outbound.allow_private_destinations. */
  allowPrivateDestinations: boolean;
  ips: IpPool;
  connections: ConnectionPool;
  ipBlockPatterns: readonly RegExp[];
  tlsPolicyFor(domain: string): 'may' | 'encrypt';
  now(): number;
}

export interface JobInput {
  message: DeliveryMessage;
  body: Buffer;
  domain: string;
  recipients: readonly DueRecipient[];
}

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

export function statusOf(reply: string, verdict: RecipientVerdict['verdict'], fallback?: string): string {
  const found = ENHANCED.exec(reply);
  if (found) {
    const cls = verdict === 'delivered' ? '2' : verdict === 'defer' ? '4' : '5';
    // A deferral carries a 4.x.x status even when the text quoted a 5.x.x (a blamed IP, say).
    return `${cls}.${found[2]}.${found[3]}`;
  }
  return fallback ?? (verdict === 'delivered' ? '2.0.0' : verdict === 'defer' ? '4.0.0' : '5.0.0');
}

/** Delivers one message to one domain's recipients: route, pick a source IP, MX failover, IP failover. */
export async function deliverJob(input: JobInput, deps: JobDeps): Promise<JobResult> {
  const { message, domain } = input;
  const result: JobResult = { verdicts: [], attempts: [], avoid: [] };
  const byAddress = new Map(input.recipients.map((r) => [r.address, r]));
  const settle = (addresses: readonly string[], verdict: RecipientVerdict['verdict'], reply: string, remoteMta: string | null, status?: string) => {
    for (const address of addresses) {
      const r = byAddress.get(address);
      if (!r) continue;
      byAddress.delete(address);
      result.verdicts.push({ id: r.id, address, verdict, reply, status: status ?? statusOf(reply, verdict), remoteMta });
    }
  };
  const record = (a: Omit<AttemptRecord, 'messageId' | 'domain' | 'at'>) =>
    result.attempts.push({ messageId: message.id, domain, at: deps.now(), ...a });

  const plan = await planRoute(domain, deps.routes, deps.port, deps.dns, deps.allowPrivateDestinations);
  if (plan.kind !== 'targets') {
    const verdict = plan.kind === 'fail' ? 'fail' : 'defer';
    record({ recipients: [...byAddress.keys()], delivered: 0, mx: null, remoteIp: null, sourceIp: null, tlsVersion: null, tlsCipher: null, reply: plan.text, outcome: plan.kind === 'fail' ? 'failed' : 'deferred' });
    settle([...byAddress.keys()], verdict, plan.text, null, plan.status);
    return result;
  }

  const tried = new Set<string | null>();
  let unreachableFrom: OutboundIp | undefined;
  let lastProblem = { reply: 'no outbound address available for this destination', status: '4.4.0', remoteMta: null as string | null };
  while (byAddress.size > 0) {
    const first = plan.targets[0] as Target;
    const reusable = deps.connections.idleSource(first, (s) => !tried.has(s.address) && !deps.ips.isAvoided(s.address, domain, deps.now()));
    const source = reusable ?? deps.ips.choose(domain, tried, deps.now());
    if (!source) break;
    tried.add(source.address);
    const outcome = await viaSource(source, plan.targets);
    if (outcome === 'unreachable') {
      // Every host refused or ignored this source address: maybe the address, maybe the hosts. One more
      // address tells which; if it connects, the first one is avoided for this destination.
      if (unreachableFrom) break;
      unreachableFrom = source;
      continue;
    }
    if (unreachableFrom?.address) {
      result.avoid.push({ sourceIp: unreachableFrom.address, destination: domain, reason: 'connections failed from this address' });
      unreachableFrom = undefined;
    }
  }
  settle([...byAddress.keys()], 'defer', lastProblem.reply, lastProblem.remoteMta, lastProblem.status);
  return result;

  /** Tries the targets in order from one source address; returns 'unreachable' if none could be reached. */
  async function viaSource(source: OutboundIp, targets: readonly Target[]): Promise<'reached' | 'unreachable'> {
    for (const target of targets) {
      const recipients = [...byAddress.keys()];
      if (recipients.length === 0) return 'reached';
      const base = { mx: target.name, remoteIp: target.ip, sourceIp: source.address };
      const opened = await deps.connections.acquire(target, source, deps.tlsPolicyFor(domain));
      if (!opened.ok) {
        const blamed = opened.code !== null && classifyReply(opened.code, opened.reply, deps.ipBlockPatterns) === 'blocked-ip';
        record({ ...base, recipients, delivered: 0, tlsVersion: null, tlsCipher: null, reply: opened.reply, outcome: blamed ? 'blocked-ip' : 'deferred' });
        lastProblem = { reply: opened.reply, status: opened.code ? statusOf(opened.reply, 'defer', '4.4.2') : '4.4.1', remoteMta: target.name };
        if (blamed) {
          if (source.address) result.avoid.push({ sourceIp: source.address, destination: domain, reason: opened.reply });
          return 'reached';
        }
        continue;
      }
      const session = opened.session;
      const tlsFields = { tlsVersion: session.tls?.version ?? null, tlsCipher: session.tls?.cipher ?? null };
      const sent = await session.send(message.mailFrom, recipients, input.body, input.body.length, { envid: message.envid, ret: message.ret, recipientDsn: byAddress });
      if (sent.stage === 'connection') {
        deps.connections.discard(session);
        record({ ...base, ...tlsFields, recipients, delivered: 0, reply: sent.reply, outcome: 'deferred' });
        lastProblem = { reply: sent.reply, status: '4.4.2', remoteMta: target.name };
        continue;
      }
      const blamedIp = applyTransaction(sent, recipients, target.name);
      const delivered = sent.stage === 'done' ? sent.accepted.length : 0;
      record({
        ...base,
        ...tlsFields,
        recipients,
        delivered,
        reply: sent.reply,
        outcome: blamedIp ? 'blocked-ip' : delivered === recipients.length ? 'delivered' : delivered > 0 ? 'partial' : classifyOutcome(sent),
      });
      void deps.connections.release(session);
      if (blamedIp && source.address) result.avoid.push({ sourceIp: source.address, destination: domain, reason: sent.reply });
      return 'reached';
    }
    return 'unreachable';
  }

  function classifyOutcome(sent: TransactionResult): AttemptRecord['outcome'] {
    return sent.code !== null && sent.code >= 500 ? 'failed' : 'deferred';
  }

  /**
   * Settles what the transaction decided; recipients refused because of the source address stay unsettled
   * for the next address. Returns whether the address was blamed.
   */
  function applyTransaction(sent: TransactionResult, recipients: readonly string[], remoteMta: string): boolean {
    let blamed = false;
    const decide = (addresses: readonly string[], code: number, reply: string) => {
      const verdict = classifyReply(code, reply, deps.ipBlockPatterns);
      if (verdict === 'blocked-ip') {
        blamed = true;
        lastProblem = { reply, status: statusOf(reply, 'defer', '4.7.1'), remoteMta };
        return;
      }
      if (verdict === 'delivered') settle(addresses, 'delivered', reply, remoteMta);
      else settle(addresses, verdict === 'fail' ? 'fail' : 'defer', reply, remoteMta);
      if (verdict === 'defer') lastProblem = { reply, status: statusOf(reply, 'defer'), remoteMta };
    };
    for (const rejected of sent.rejected) decide([rejected.address], rejected.code, rejected.reply);
    const rejectedSet = new Set(sent.rejected.map((r) => r.address));
    const rest = recipients.filter((r) => !rejectedSet.has(r));
    if (sent.stage === 'done') decide(sent.accepted, sent.code, sent.reply);
    else if (sent.stage === 'mail' || sent.stage === 'data') decide(rest, sent.code as number, sent.reply);
    return blamed;
  }
}
