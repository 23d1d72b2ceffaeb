import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { Listing, ZoneAnswer } from '../store/blocklists.js';
import type { Store } from '../store/store.js';
import type { DnsblLookup } from './dnsbl-lookup.js';
import type { OperatorAlerts } from './operator-alerts.js';

export interface IpMonitorDeps {
  store: Store;
  lookup: DnsblLookup;
  clock: Clock;
  logger: Logger;
  alerts: OperatorAlerts;
  /** The whole outbound pool, every node's (read at each round: nodes come and go). */
  addresses: () => Promise<readonly string[]>;
  /** dnsbl.ip_zones. */
  zones: readonly string[];
  /** This node's delivery applies the round's listings at once rather than at its next refresh. */
  onListings?: (listings: Listing[]) => void;
}

/**
 * Looks every outbound address up in every IP zone and records the answers in the store; each change (listed,
 * delisted) is logged and mailed to the operator by the node whose write made it, so several nodes running the
 * monitor report it once. A zone that does not answer changes nothing: it neither lists nor delists.
 */
export class IpBlocklistMonitor {
  /** Whether the last round found every address listed: the loud alert is sent when this becomes true. */
  private allListed = false;

  constructor(private readonly deps: IpMonitorDeps) {}

  async runOnce(): Promise<void> {
    const { zones, lookup, store, clock } = this.deps;
    const addresses = await this.deps.addresses();
    if (addresses.length === 0 || zones.length === 0) return;
    const checks = addresses.flatMap((address) => zones.map((zone) => ({ address, zone })));
    const changes = await Promise.all(
      checks.map(async ({ address, zone }) => {
        const answer = await lookup.ip(address, zone);
        const change = await store.blocklists.recordIpAnswer(address, zone, answer, clock.now());
        if (answer.kind === 'error') this.deps.logger.warn({ event: 'dnsbl_error', source_ip: address, zone, error: answer.error }, 'blocklist lookup failed; not counted as a listing');
        return { address, zone, answer, change };
      }),
    );
    for (const c of changes) if (c.change) await this.report(c.address, c.zone, c.change, c.answer);
    const listings = (await store.blocklists.listedIps()).filter((l) => zones.includes(l.zone));
    this.deps.onListings?.(listings);
    await this.checkWholePool(addresses, listings, changes.some((c) => c.change === 'listed'));
  }

  private async report(address: string, zone: string, change: 'listed' | 'delisted', answer: ZoneAnswer): Promise<void> {
    if (change === 'listed' && answer.kind === 'listed') {
      await this.deps.alerts.raise({
        level: 'warn',
        event: 'ip_listed',
        fields: { source_ip: address, zone, code: answer.code, reason: answer.reason },
        subject: `Outbound address ${address} listed in ${zone}`,
        text: [
          `The outbound address ${address} is listed in the blocklist ${zone} (answer ${answer.code}).`,
          `Reason given by the zone: ${answer.reason ?? '(none)'}`,
          '',
          'It has been taken out of the rotation on every node: no mail leaves from it until it is delisted.',
          `See: relais ip list, relais ip history ${address}`,
        ].join('\n'),
      });
    } else if (change === 'delisted') {
      await this.deps.alerts.raise({
        level: 'info',
        event: 'ip_delisted',
        fields: { source_ip: address, zone },
        subject: `Outbound address ${address} delisted from ${zone}`,
        text: [`The outbound address ${address} is no longer listed in ${zone}.`, 'It is back in the rotation unless another zone still lists it.', `See: relais ip history ${address}`].join('\n'),
      });
    }
  }

  /**
   * Every address listed: nothing can leave. Logged as an error every round; mailed once, by the node whose
   * write listed the last address (a restart, or another node, finds it already so and only logs).
   */
  private async checkWholePool(addresses: readonly string[], listings: readonly Listing[], listedNow: boolean): Promise<void> {
    const listed = new Set(listings.map((l) => l.subject));
    const all = addresses.every((a) => listed.has(a));
    if (all) {
      const fields = { addresses, zones: [...new Set(listings.map((l) => l.zone))] };
      if (!this.allListed && listedNow) {
        await this.deps.alerts.raise({
          level: 'error',
          event: 'pool_all_listed',
          fields,
          subject: 'Every outbound address is blocklisted: customer mail is held in the queue',
          text: [
            'Every address of outbound.ips is listed on a monitored blocklist:',
            ...listings.map((l) => `  ${l.subject} in ${l.zone}: ${l.reason ?? l.code ?? ''}`),
            '',
            'Customer mail stays queued (deferred, never bounced for this) until an address is delisted.',
            'Request delisting from the zones above, or add clean addresses to outbound.ips.',
          ].join('\n'),
        });
      } else {
        this.deps.logger.error({ event: 'pool_all_listed', ...fields }, 'every outbound address is still blocklisted; customer mail is held in the queue');
      }
    }
    this.allListed = all;
  }
}
