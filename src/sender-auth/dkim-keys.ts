import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { InputError } from '../accounts/validation.js';
import type { Clock } from '../shared/clock.js';
import type { DkimAlgorithm, DkimKeyRecord } from '../store/dkim-keys.js';
import type { Store } from '../store/store.js';
import { SecretBox, SecretKeyMismatch } from './secret-box.js';
import { loadSecretKey } from './secret-key.js';

const generateKeyPair = promisify(crypto.generateKeyPair);

/** What an operator publishes for a key: the owner name and the TXT value, cut into strings of at most 255 characters. */
export interface DkimKeyView {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  createdAt: number;
  dnsName: string;
  txt: string;
  txtStrings: string[];
}

const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** The first 12 bytes of an Ed25519 SubjectPublicKeyInfo; the raw key (what RFC 8463 publishes) follows. */
const ED25519_SPKI_PREFIX = 12;

export function normalizeDomain(input: string): string {
  const domain = input.trim().replace(/\.$/, '').toLowerCase();
  if (!DOMAIN.test(domain)) throw new InputError(`"${input}" is not a domain name: give the sender domain, for example "example.com"`);
  return domain;
}

export function txtStrings(value: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return parts;
}

export function dkimTxtValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

export function viewOf(record: Pick<DkimKeyRecord, 'domain' | 'selector' | 'algorithm' | 'createdAt' | 'publicKey'>): DkimKeyView {
  const txt = dkimTxtValue(record.algorithm, record.publicKey);
  return {
    domain: record.domain,
    selector: record.selector,
    algorithm: record.algorithm,
    createdAt: record.createdAt,
    dnsName: `${record.selector}._domainkey.${record.domain}`,
    txt,
    txtStrings: txtStrings(txt),
  };
}

/** Bound to each sealed key: a sealed key moved to another domain's row does not open. */
const sealContext = (domain: string, selector: string) => `dkim:${domain}:${selector}`;

/** The DKIM keys of sender domains: generated here, sealed with the secrets key, published by the operator. */
export class DkimKeys {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keyFile: string,
  ) {}

  list(): Promise<DkimKeyRecord[]> {
    return this.store.dkim.list();
  }

  /** A name that cannot be a domain (a From header says what it likes) simply has no key. */
  async find(domain: string): Promise<DkimKeyRecord | undefined> {
    const name = domain.trim().replace(/\.$/, '').toLowerCase();
    return DOMAIN.test(name) ? this.store.dkim.find(name) : undefined;
  }

  /**
   * The secrets key, checked against what the store holds: created when the store holds no key yet, refused
   * with a clear error when missing or different from the one the stored keys were sealed with.
   */
  async openBox(): Promise<{ box: SecretBox; created: boolean }> {
    const sample = await this.store.dkim.sample();
    const { key, created } = loadSecretKey(this.keyFile, { create: sample === undefined });
    const box = new SecretBox(key);
    if (sample) this.privateKey(sample, box);
    return { box, created };
  }

  /** The PEM of a stored key; a clear error if the secrets key in use is not the one it was sealed with. */
  privateKey(record: DkimKeyRecord, box: SecretBox): string {
    try {
      return box.open(record.privateKeySealed, sealContext(record.domain, record.selector));
    } catch (error) {
      if (!(error instanceof SecretKeyMismatch)) throw error;
      throw new InputError(
        `the secrets key file ${this.keyFile} does not open the stored DKIM key of ${record.domain} (${error.message}): it is not the file the keys were encrypted with; restore that file (or point secrets.key_file at it)`,
      );
    }
  }

  async add(domainInput: string, options: { selector?: string; algorithm?: string } = {}): Promise<{ view: DkimKeyView; keyFileCreated: boolean }> {
    const domain = normalizeDomain(domainInput);
    const algorithm = options.algorithm ?? 'rsa';
    if (algorithm !== 'rsa' && algorithm !== 'ed25519') throw new InputError(`unknown algorithm "${algorithm}": use rsa (2048 bits, the default) or ed25519`);
    const selector = (options.selector ?? defaultSelector(this.clock.now())).toLowerCase();
    if (!SELECTOR.test(selector)) throw new InputError(`"${options.selector}" is not a valid selector: use letters, digits and "-", for example "relais2026"`);
    const existing = await this.store.dkim.find(domain);
    if (existing) throw new InputError(`${domain} already has a DKIM key (selector ${existing.selector}): remove it first with "relais dkim remove ${domain}"`);
    const { box, created } = await this.openBox();
    const { privateKey, publicKey } = await generate(algorithm);
    const record = await this.store.dkim.add({
      domain,
      selector,
      algorithm,
      publicKey,
      privateKeySealed: box.seal(privateKey, sealContext(domain, selector)),
      createdAt: this.clock.now(),
    });
    if (!record) throw new InputError(`${domain} already has a DKIM key: remove it first with "relais dkim remove ${domain}"`);
    return { view: viewOf(record), keyFileCreated: created };
  }

  async remove(domainInput: string): Promise<boolean> {
    return this.store.dkim.remove(normalizeDomain(domainInput));
  }
}

/** Dated, so a later rotation can publish a new selector beside the old one. */
function defaultSelector(now: number): string {
  const d = new Date(now);
  return `relais${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

async function generate(algorithm: DkimAlgorithm): Promise<{ privateKey: string; publicKey: string }> {
  const pair =
    algorithm === 'rsa'
      ? await generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : await generateKeyPair('ed25519');
  const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  // RFC 6376 publishes the RSA SubjectPublicKeyInfo; RFC 8463 the bare 32-byte Ed25519 key.
  const publicKey = (algorithm === 'rsa' ? spki : spki.subarray(ED25519_SPKI_PREFIX)).toString('base64');
  return { privateKey, publicKey };
}
