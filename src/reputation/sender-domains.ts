import type { Logger } from '../log/logger.js';
import type { Clock } from '../shared/clock.js';
import type { DomainUse } from '../store/blocklists.js';
import type { Store } from '../store/store.js';

const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** A domain worth recording: a DNS name with a dot (not an address literal, not a bare host). */
export function senderDomain(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  const domain = address.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return DOMAIN.test(domain) ? domain : null;
}

/**
 * The domains of the From header's addresses. Only the header block is read (up to 64 KiB), and only the From
 * field in it: this runs for every accepted message.
 */
export function fromHeaderDomains(message: Buffer): string[] {
  const end = message.indexOf('\r\n\r\n');
  const header = message.toString('latin1', 0, Math.min(end < 0 ? message.length : end + 2, 65_536));
  const match = /(?:^|\r\n)from[ \t]*:((?:[^\r\n]|\r\n[ \t])*)/i.exec(header);
  if (!match) return [];
  const value = (match[1] as string).replace(/\r\n/g, '');
  const found = new Set<string>();
  // Display names may contain "@" inside quotes or comments: drop those before looking for addresses. Then
  // split on the separators (linear, whatever a hostile header holds) and keep the tokens with an "@".
  const bare = value.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\([^()]*\)/g, '');
  for (const token of bare.split(/[\s<>(),;:"]+/)) {
    if (!token.includes('@')) continue;
    const domain = senderDomain(token);
    if (domain) found.add(domain);
    if (found.size >= 20) break;
  }
  return [...found];
}

/**
 * Records which domains each credential sends from, cheaply enough for the submission hot path: a pair seen
 * recently is remembered in memory and costs nothing; the store is written (batched, off the 250's path) only
 * on a pair's first sight by this process or once its last use is older than `lastUseEveryMs`. A pair new to
 * the store is handed to `onFirstUse` (the domain check).
 */
export class SenderDomainRecorder {
  private readonly recent = new Map<string, number>();
  private pending = new Map<string, DomainUse>();
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly lastUseEveryMs: number,
    private readonly onFirstUse: (use: DomainUse) => void,
    private readonly logger: Logger,
    private readonly maxRemembered = 100_000,
  ) {}

  seen(credentialId: number, domains: readonly string[]): void {
    const now = this.clock.now();
    for (const domain of domains) {
      const key = `${credentialId} ${domain}`;
      const last = this.recent.get(key);
      if (last !== undefined && now - last < this.lastUseEveryMs) continue;
      this.remember(key, now);
      this.pending.set(key, { credentialId, domain, at: now });
    }
    if (this.pending.size > 0 && this.flushing === null) this.flushing = this.flushSoon();
  }

  /** Waits for the writes under way (relay stop). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private remember(key: string, at: number): void {
    this.recent.delete(key);
    if (this.recent.size >= this.maxRemembered) {
      // Oldest first (insertion order): forgetting a pair only costs one more upsert when it is seen again.
      let n = Math.ceil(this.maxRemembered / 10);
      for (const k of this.recent.keys()) {
        this.recent.delete(k);
        if (--n <= 0) break;
      }
    }
    this.recent.set(key, at);
  }

  private async flushSoon(): Promise<void> {
    try {
      // Uses that arrive during one write are gathered into the next: one transaction for many messages.
      while (this.pending.size > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        const batch = this.pending;
        this.pending = new Map();
        try {
          const fresh = await this.store.blocklists.touchSenderDomains([...batch.values()]);
          for (const use of fresh) this.onFirstUse(use);
        } catch (error) {
          // Forgotten, so the next message from these pairs tries again.
          for (const key of batch.keys()) this.recent.delete(key);
          this.logger.warn({ event: 'sender_domains_failed', pairs: batch.size, error: (error as Error).message }, 'could not record sender domains; will retry on their next use');
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
