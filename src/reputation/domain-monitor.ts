import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { ZoneAnswer } from '../store/blocklists.js';
import type { Store } from '../store/store.js';
import type { DnsblLookup } from './dnsbl-lookup.js';
import type { SuspensionService } from './suspensions.js';

export interface DomainMonitorDeps {
  store: Store;
  lookup: DnsblLookup;
  clock: Clock;
  logger: Logger;
  suspensions: SuspensionService;
  /** dnsbl.domain_zones. */
  zones: readonly string[];
}

/**
 * Checks the domains credentials send from against the domain zones (DBL/SURBL style): a new domain when first
 * seen, every domain every dnsbl.interval. A listed domain suspends each credential that sends from it (reason
 * `blocklist`) and records the listing in its history. The node whose write saw the listing first acts on every
 * credential; a credential that starts using an already listed domain is acted on when its use is first seen.
 */
export class DomainBlocklistMonitor {
  constructor(private readonly deps: DomainMonitorDeps) {}

  /** A (credential, domain) pair seen for the first time. */
  async checkFirstUse(credentialId: number, domain: string): Promise<void> {
    for (const zone of this.deps.zones) {
      const { answer, change } = await this.check(domain, zone);
      if (answer.kind !== 'listed') continue;
      const credentials = change === 'listed' ? await this.deps.store.blocklists.credentialsUsingDomain(domain) : [credentialId];
      await this.act(domain, zone, answer, credentials);
    }
  }

  async runOnce(): Promise<void> {
    if (this.deps.zones.length === 0) return;
    const domains = await this.deps.store.blocklists.allSenderDomains();
    // The lookup's own gate bounds how many are in flight; these are only queued behind it.
    await Promise.all(
      domains.flatMap((domain) =>
        this.deps.zones.map(async (zone) => {
          const { answer, change } = await this.check(domain, zone);
          if (change === 'listed' && answer.kind === 'listed') await this.act(domain, zone, answer, await this.deps.store.blocklists.credentialsUsingDomain(domain));
          if (change === 'delisted') this.deps.logger.info({ event: 'domain_delisted', domain, zone }, 'sender domain delisted');
        }),
      ),
    );
  }

  private async check(domain: string, zone: string): Promise<{ answer: ZoneAnswer; change: 'listed' | 'delisted' | null }> {
    const answer = await this.deps.lookup.domain(domain, zone);
    if (answer.kind === 'error') this.deps.logger.warn({ event: 'dnsbl_error', domain, zone, error: answer.error }, 'blocklist lookup failed; not counted as a listing');
    const change = await this.deps.store.blocklists.recordDomainAnswer(domain, zone, answer, this.deps.clock.now());
    return { answer, change };
  }

  private async act(domain: string, zone: string, answer: Extract<ZoneAnswer, { kind: 'listed' }>, credentials: readonly number[]): Promise<void> {
    const detail = { zone, domain, reason: answer.reason, code: answer.code };
    const note = `sender domain ${domain} listed in ${zone}${answer.reason ? `: ${answer.reason}` : ''}`;
    for (const credentialId of credentials) {
      try {
        await this.deps.suspensions.record(credentialId, 'domain_listed', { note, detail });
        const suspended = await this.deps.suspensions.suspend(credentialId, 'blocklist', { note, detail });
        this.deps.logger.warn(
          { event: 'domain_listed', credential_id: credentialId, domain, zone, code: answer.code, reason: answer.reason, suspended: suspended !== null },
          suspended ? 'sender domain blocklisted: credential suspended' : 'sender domain blocklisted: credential already suspended',
        );
      } catch (error) {
        this.deps.logger.error({ event: 'domain_listing_failed', credential_id: credentialId, domain, zone, error: (error as Error).message }, 'could not suspend a credential for a listed sender domain');
      }
    }
  }
}
