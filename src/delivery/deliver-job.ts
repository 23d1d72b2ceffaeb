import type { AttemptRecord, DeliveryMessage, DueRecipient } from '../store/delivery-records.js';
import type { ConnectionPool } from './connection-pool.js';
import type { DnsLookup } from './dns-lookup.js';
import type { IpPool, OutboundIp } from './ip-pool.js';
import { classifyReply, enhancedCode, type ReplyPatterns } from './reply-classifier.js';
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
  /** Delivered to a next hop that took over the DSN parameters (RFC 3461): it, not Relais, notifies. */
  dsnPassed?: boolean;
}

export interface JobResult {
  verdicts: RecipientVerdict[];
  attempts: AttemptRecord[];
  /** Source addresses a destination refused during this job, to avoid for it. */
  avoid: { sourceIp: string; destination: string; reason: string }[];
  /** Hosts that asked for fewer connections (a 421 that does not blame the source address). */
  slowDown: { hostIp: string; host: string; reason: string }[];
  /** A host of the destination carried a transaction to its end (whatever it answered): it is up and talking. */
  transacted: boolean;
  /**
   * No address of the pool could carry this mail at all (every one it may use is blocklisted): the recipients
   * wait in the queue, past their give-up time if need be, as the pool's state never fails a recipient.
   */
  held: boolean;
}

export interface JobDeps {
  dns: DnsLookup;
  routes: ReadonlyMap<string, string>;
  port: number;
  /** outbound.allow_private_destinations. */
  allowPrivateDestinations: boolean;
  ips: IpPool;
  connections: ConnectionPool;
  ipBlockPatterns: ReplyPatterns | readonly RegExp[];
  tlsPolicyFor(domain: string): 'may' | 'encrypt';
  now(): number;
}

export interface JobInput {
  message: DeliveryMessage;
  body: Buffer;
  domain: string;
  recipients: readonly DueRecipient[];
  /** The credential's pinned addresses (relais credential pool); undefined: the whole pool. */
  allowed?: ReadonlySet<string>;
  /** May leave from a blocklisted address when no other is left (the operator's alerts). */
  lastResort?: boolean;
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

/**
 * A RCPT refused because the transaction holds enough recipients (RFC 5321 4.5.3.1.10: 452, or the 552 of RFC
 * 821): the receiver takes the others in a transaction of their own, so they are sent at once rather than a
 * retry later. A full mailbox (4.2.2) is not this.
 */
function tooManyRecipients(code: number, reply: string): boolean {
  if (code !== 452 && code !== 552) return false;
  const enhanced = enhancedCode(reply);
  if (enhanced) return enhanced.subject === 5 && enhanced.detail === 3;
  return /\btoo many (recipients|rcpts?)\b|\brecipient limit\b/i.test(reply);
}

/** Delivers one message to one domain's recipients: route, pick a source IP, MX failover, IP failover. */
export async function deliverJob(input: JobInput, deps: JobDeps): Promise<JobResult> {
  const { message, domain } = input;
  const result: JobResult = { verdicts: [], attempts: [], avoid: [], slowDown: [], transacted: false, held: false };
  const byAddress = new Map(input.recipients.map((r) => [r.address, r]));
  const settle = (addresses: readonly string[], verdict: RecipientVerdict['verdict'], reply: string, remoteMta: string | null, status?: string, dsnPassed?: boolean) => {
    for (const address of addresses) {
      const r = byAddress.get(address);
      if (!r) continue;
      byAddress.delete(address);
      const v: RecipientVerdict = { id: r.id, address, verdict, reply, status: status ?? statusOf(reply, verdict), remoteMta };
      if (dsnPassed !== undefined) v.dsnPassed = dsnPassed;
      result.verdicts.push(v);
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
    const reusable = deps.connections.idleSource(
      first,
      (s) => !tried.has(s.address) && !deps.ips.isAvoided(s.address, domain, deps.now()) && deps.ips.usable(s.address, input.allowed),
    );
    // With every address avoided for this destination, the one avoided longest ago still carries the retry:
    // the pool's state may delay a recipient, never fail it.
    const source =
      reusable ??
      deps.ips.choose(domain, tried, deps.now(), input.allowed) ??
      (tried.size === 0 ? deps.ips.leastRecentlyAvoided(domain, deps.now(), { allowed: input.allowed, lastResort: input.lastResort }) : undefined);
    if (!source) {
      if (tried.size === 0) {
        result.held = true;
        const scope = input.allowed ? "every outbound address this credential is pinned to" : 'every outbound address';
        lastProblem = { reply: `${scope} is out of rotation (blocklisted); the message stays queued until one is delisted`, status: '4.4.0', remoteMta: null };
      }
      break;
    }
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
  if (byAddress.size > 0 && result.attempts.length === 0) {
    // Every job leaves an attempt behind, so that `relais queue show` lists as many as it counts.
    record({ recipients: [...byAddress.keys()], delivered: 0, mx: null, remoteIp: null, sourceIp: null, tlsVersion: null, tlsCipher: null, reply: lastProblem.reply, outcome: 'deferred' });
  }
  settle([...byAddress.keys()], 'defer', lastProblem.reply, lastProblem.remoteMta, lastProblem.status);
  return result;

  /**
   * Tries the targets in order from one source address; returns 'unreachable' if none could be reached (no
   * host answered at all: a host that answered, even with a refusal, was reached).
   */
  async function viaSource(source: OutboundIp, targets: readonly Target[]): Promise<'reached' | 'unreachable'> {
    let answered = false;
    for (const target of targets) {
      if (byAddress.size === 0) return 'reached';
      const base = { mx: target.name, remoteIp: target.ip, sourceIp: source.address };
      // More than one transaction when the receiver limits recipients per transaction (452 too many recipients).
      for (;;) {
        const recipients = [...byAddress.keys()];
        const opened = await deps.connections.acquire(target, source, deps.tlsPolicyFor(domain));
        if (!opened.ok) {
          const verdict = opened.code === null ? 'defer' : classifyReply(opened.code, opened.reply, deps.ipBlockPatterns, 'connect');
          record({ ...base, recipients, delivered: 0, tlsVersion: null, tlsCipher: null, reply: opened.reply, outcome: verdict === 'blocked-ip' ? 'blocked-ip' : 'deferred' });
          lastProblem = { reply: opened.reply, status: opened.code ? statusOf(opened.reply, 'defer', '4.4.2') : '4.4.1', remoteMta: target.name };
          if (verdict === 'blocked-ip') {
            if (source.address) result.avoid.push({ sourceIp: source.address, destination: domain, reason: opened.reply });
            return 'reached';
          }
          if (verdict === 'slow-down') result.slowDown.push({ hostIp: target.ip, host: target.name, reason: opened.reply });
          if (opened.code !== null) answered = true;
          break;
        }
        const session = opened.session;
        // Attempts name the address mail really left from, also when the system chose it (`relais ip list`).
        const tlsFields = { sourceIp: source.address ?? session.localAddress, tlsVersion: session.tls?.version ?? null, tlsCipher: session.tls?.cipher ?? null };
        const sent = await session.send(message.mailFrom, recipients, input.body, input.body.length, { envid: message.envid, ret: message.ret, recipientDsn: byAddress });
        if (sent.stage === 'connection') {
          deps.connections.discard(session);
          record({ ...base, ...tlsFields, recipients, delivered: 0, reply: sent.reply, outcome: 'deferred' });
          lastProblem = { reply: sent.reply, status: '4.4.2', remoteMta: target.name };
          break;
        }
        result.transacted = true;
        const { blamed, again } = applyTransaction(sent, recipients, target);
        const delivered = sent.stage === 'done' ? sent.accepted.length : 0;
        record({
          ...base,
          ...tlsFields,
          recipients,
          delivered,
          reply: sent.reply,
          outcome: blamed ? 'blocked-ip' : delivered === recipients.length ? 'delivered' : delivered > 0 ? 'partial' : classifyOutcome(sent),
        });
        if (blamed && source.address) result.avoid.push({ sourceIp: source.address, destination: domain, reason: sent.reply });
        if (!again) {
          void deps.connections.release(session);
          return 'reached';
        }
        // Handed back first, so that the next transaction can take the same connection.
        await deps.connections.release(session);
      }
    }
    return answered ? 'reached' : 'unreachable';
  }

  function classifyOutcome(sent: TransactionResult): AttemptRecord['outcome'] {
    return sent.code !== null && sent.code >= 500 ? 'failed' : 'deferred';
  }

  /**
   * Settles what the transaction decided; recipients refused because of the source address stay unsettled
   * for the next address, and those refused as one too many for a transaction that delivered stay unsettled
   * for the next transaction. Returns whether the address was blamed and whether to go again at once.
   */
  function applyTransaction(sent: TransactionResult, recipients: readonly string[], target: Target): { blamed: boolean; again: boolean } {
    const remoteMta = target.name;
    let blamed = false;
    const decide = (addresses: readonly string[], code: number, reply: string, stage: 'mail' | 'rcpt' | 'data') => {
      const verdict = classifyReply(code, reply, deps.ipBlockPatterns, stage);
      if (verdict === 'blocked-ip') {
        blamed = true;
        lastProblem = { reply, status: statusOf(reply, 'defer', '4.7.1'), remoteMta };
        return;
      }
      if (verdict === 'slow-down' && !result.slowDown.some((s) => s.hostIp === target.ip)) {
        result.slowDown.push({ hostIp: target.ip, host: target.name, reason: reply });
      }
      if (verdict === 'delivered') settle(addresses, 'delivered', reply, remoteMta, undefined, sent.stage === 'done' && sent.dsnPassed === true);
      else settle(addresses, verdict === 'fail' ? 'fail' : 'defer', reply, remoteMta);
      if (verdict !== 'delivered' && verdict !== 'fail') lastProblem = { reply, status: statusOf(reply, 'defer'), remoteMta };
    };
    const progressed = sent.stage === 'done' && sent.accepted.length > 0 && sent.code >= 200 && sent.code < 300;
    let again = false;
    for (const rejected of sent.rejected) {
      if (progressed && tooManyRecipients(rejected.code, rejected.reply)) {
        again = true;
        continue;
      }
      decide([rejected.address], rejected.code, rejected.reply, 'rcpt');
    }
    const rejectedSet = new Set(sent.rejected.map((r) => r.address));
    const rest = recipients.filter((r) => !rejectedSet.has(r));
    if (sent.stage === 'done') decide(sent.accepted, sent.code, sent.reply, 'data');
    else if (sent.stage === 'mail' || sent.stage === 'data') decide(rest, sent.code as number, sent.reply, sent.stage);
    return { blamed, again: again && !blamed };
  }
}
