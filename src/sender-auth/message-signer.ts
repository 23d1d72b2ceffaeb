import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { Clock } from '../shared/clock.js';
import type { DkimKeyRecord } from '../store/dkim-keys.js';
import type { DkimKeys } from './dkim-keys.js';
import { headerFields, fromDomain, signingDomains } from './message-identity.js';
import type { SecretBox } from './secret-box.js';

interface ReadyKey {
  selector: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  pem: string;
}

interface Cached {
  key: ReadyKey | null;
  until: number;
}

export interface MessageSignerOptions {
  keys: DkimKeys;
  box: SecretBox;
  clock: Clock;
  /** dkim.cache_ttl: a domain's key, or its absence, is read from the store once per this. */
  cacheMs: number;
  /** dkim.headers */
  headers: readonly string[];
  maxEntries?: number;
}

/**
 * Signs mail whose From domain has a key (relaxed/relaxed), at submission, before the message is queued. A
 * message already signed for that domain (by the customer's own server) keeps its signature and gets no second
 * one. Keys are decrypted once and kept in memory for `cacheMs`, so the hot path makes no store round trip for
 * a domain it has seen lately, with or without a key (a removed key may sign for up to `cacheMs` more).
 */
export class MessageSigner {
  private readonly cache = new Map<string, Cached>();
  private readonly loading = new Map<string, Promise<ReadyKey | null>>();
  private readonly headerList: string;

  constructor(private readonly options: MessageSignerOptions) {
    this.headerList = options.headers.join(':');
  }

  /** The message with a DKIM-Signature field on top, or unchanged when it is not for Relais to sign. */
  async sign(message: Buffer): Promise<Buffer> {
    const fields = headerFields(message);
    const domain = fromDomain(fields);
    if (domain === null) return message;
    const key = await this.keyFor(domain);
    if (key === null || signingDomains(fields).has(domain)) return message;
    const signature = {
      signingDomain: domain,
      selector: key.selector,
      privateKey: key.pem,
      algorithm: key.algorithm,
      canonicalization: 'relaxed/relaxed',
    };
    const result = await dkimSign(message, {
      ...signature,
      // mailauth 4.13.3 signs only what `signatureData` lists (top-level keys alone produce no signature) and
      // reads `headerList` as a colon-separated string (an array, as its typings say, falls back to its defaults).
      signatureData: [signature],
      headerList: this.headerList as unknown as string[],
      signTime: new Date(this.options.clock.now()),
    });
    const problem = result.errors?.[0] as { err?: Error } | undefined;
    if (problem) throw new Error(`DKIM signing for ${domain} failed: ${problem.err?.message ?? 'unknown error'}`);
    if (!/^DKIM-Signature:/i.test(result.signatures)) throw new Error(`DKIM signing for ${domain} produced no signature`);
    return Buffer.concat([Buffer.from(result.signatures, 'latin1'), message]);
  }

  private async keyFor(domain: string): Promise<ReadyKey | null> {
    const now = this.options.clock.now();
    const hit = this.cache.get(domain);
    if (hit && hit.until > now) return hit.key;
    // Concurrent messages of one domain share a single store read.
    let pending = this.loading.get(domain);
    if (!pending) {
      pending = this.load(domain).finally(() => this.loading.delete(domain));
      this.loading.set(domain, pending);
    }
    return pending;
  }

  private async load(domain: string): Promise<ReadyKey | null> {
    const record = await this.options.keys.find(domain);
    const key = record ? this.ready(record) : null;
    const max = this.options.maxEntries ?? 10_000;
    if (this.cache.size >= max) {
      // Oldest first (insertion order): drop a tenth rather than one per insert.
      let n = Math.ceil(max / 10);
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--n <= 0) break;
      }
    }
    this.cache.delete(domain);
    this.cache.set(domain, { key, until: this.options.clock.now() + this.options.cacheMs });
    return key;
  }

  private ready(record: DkimKeyRecord): ReadyKey {
    const pem = this.options.keys.privateKey(record, this.options.box);
    return {
      selector: record.selector,
      algorithm: record.algorithm === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256',
      pem,
    };
  }
}
