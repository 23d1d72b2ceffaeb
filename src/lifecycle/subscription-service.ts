import { connectionSettings } from '../accounts/connection-settings.js';
import { InputError } from '../accounts/validation.js';
import { viewOf } from '../sender-auth/dkim-keys.js';
import { spfRootName } from '../sender-auth/spf-record.js';
import type { RelaisConfig } from '../config/schema.js';
import type { OwnMailSettings } from '../queue/own-mail.js';
import { parseFee } from '../reputation/fees.js';
import { AUTOMATIC_ACTOR, type SuspensionChange, type SuspensionService } from '../reputation/suspensions.js';
import type { Clock } from '../shared/clock.js';
import type { Store } from '../store/store.js';
import type { OfferTerms, RenewalOrder, Subscription } from '../store/subscriptions.js';
import { customerMessage, type CustomerMail } from './customer-mail.js';
import { noticeText, type Language, type NoticeFacts, type NoticeKind } from './notice-texts.js';
import { offerTerms, proRataDifference, type OfferCatalog } from './offers.js';
import { parameterSheet, type SheetFacts } from './parameter-sheet.js';
import { parseTerm, termEnd, type TermLength } from '../config/term.js';

export interface LifecycleSettings {
  offers: OfferCatalog;
  term: TermLength;
  renewalNoticeBefore: number;
  reminderBefore: number;
  downgradeNotice: number;
  provider: RelaisConfig['provider'];
  hostname: string;
  /** fees.late_reinstatement, named in the expiry notice. */
  lateFee: string | null;
  /** What the parameter sheet tells a mail client: server name and ports. */
  connection: { server: string; ports: { port: number; tls: string }[] };
  /** The SPF mechanism customers add: include:_spf.HOSTNAME (or spf.domain). */
  spfInclude: string;
}

export function lifecycleSettings(config: RelaisConfig): LifecycleSettings {
  return {
    offers: config.offers,
    term: parseTerm(config.lifecycle.term),
    renewalNoticeBefore: config.lifecycle.renewal_notice_before,
    reminderBefore: config.lifecycle.reminder_before,
    downgradeNotice: config.lifecycle.downgrade_notice,
    provider: config.provider,
    hostname: config.hostname,
    lateFee: config.fees.late_reinstatement ?? null,
    connection: connectionSettings(config),
    spfInclude: `include:${spfRootName(config)}`,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The note of the reinstatement a late renewal makes: its notice is the lifecycle's own, not the generic one. */
const LATE_RENEWAL_NOTE = 'renewal validated after the end date';

/**
 * Subscriptions around plans: set up, upgraded at once, downgraded at the next term, renewed only when staff
 * validate the renewal order, suspended "expired" when not. Every face (CLI, console, API, the lifecycle job)
 * goes through here, and every notice goes out through Relais's own queue, once.
 */
export class SubscriptionService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly suspensions: SuspensionService,
    private readonly settings: LifecycleSettings,
    private readonly mail: OwnMailSettings,
  ) {}

  async subscribe(username: string, offer: string, start?: number, actor = 'relais'): Promise<Subscription> {
    const credential = await this.store.findCredential(username);
    if (!credential) throw new InputError(`no credential "${username}": see "relais credential list"`);
    const terms = offerTerms(this.settings.offers, offer);
    const termStart = start ?? this.clock.now();
    const subscription = await this.store.subscriptions.add(credential.id, terms, termStart, termEnd(termStart, this.settings.term), this.clock.now());
    await this.suspensions.record(credential.id, 'subscribed', { actor, detail: { subscription: subscription.id, offer, quota: terms.quota, term_end: iso(subscription.termEnd) } });
    const sheet = await this.sheet(credential.username);
    await this.notify(subscription, 'subscribed', {}, subscription.termEnd, [{ filename: sheet.filename, content: sheet.pdf, contentType: 'application/pdf' }]);
    return subscription;
  }

  list(filter: { credential?: string; customer?: string } = {}): Promise<Subscription[]> {
    return this.resolveFilter(filter).then((f) => this.store.subscriptions.list(f));
  }

  private async resolveFilter(filter: { credential?: string; customer?: string }): Promise<{ credentialId?: number; customerId?: number }> {
    const out: { credentialId?: number; customerId?: number } = {};
    if (filter.credential !== undefined) {
      const c = await this.store.findCredential(filter.credential);
      if (!c) throw new InputError(`no credential "${filter.credential}": see "relais credential list"`);
      out.credentialId = c.id;
    }
    if (filter.customer !== undefined) {
      const c = await this.store.findCustomer(filter.customer);
      if (!c) throw new InputError(`no customer named "${filter.customer}": see "relais customer list"`);
      out.customerId = c.id;
    }
    return out;
  }

  async get(id: number): Promise<Subscription> {
    const s = await this.store.subscriptions.find(id);
    if (!s) throw new InputError(`no subscription with id ${id}: see "relais subscription list"`);
    return s;
  }

  /** Effective at once: the quota rises now, and the price difference for the rest of the term is charged. */
  async upgrade(id: number, offer: string, actor = 'relais'): Promise<{ subscription: Subscription; charge: string | null }> {
    const s = await this.get(id);
    const terms = offerTerms(this.settings.offers, offer);
    if (terms.quota <= s.quota) {
      throw new InputError(`"${offer}" (${terms.quota} per 24 h) is not bigger than "${s.offer}" (${s.quota}): use "relais subscription downgrade ${id} --offer ${offer}" for a smaller offer`);
    }
    const now = this.clock.now();
    if (now >= s.termEnd) throw new InputError(`subscription ${id} ended on ${iso(s.termEnd)}: validate its renewal first (relais renewal list)`);
    const charge = proRataDifference(s.price, terms.price, s.termEnd - now, s.termEnd - s.termStart);
    await this.store.subscriptions.upgrade(id, terms, now);
    await this.suspensions.record(s.credentialId, 'upgraded', { actor, detail: { subscription: id, from: s.offer, to: offer, quota: terms.quota } });
    if (charge && !/^0\.0+ /.test(charge)) {
      const line = parseFee('upgrade', charge);
      await this.suspensions.record(s.credentialId, 'charge', { actor, reason: null, detail: { fee: 'upgrade', amount: line.amount, currency: line.currency, subscription: id, from: s.offer, to: offer } });
    }
    return { subscription: await this.get(id), charge };
  }

  /** A request for the next term, accepted only until lifecycle.downgrade_notice before the end date. */
  async downgrade(id: number, offer: string, actor = 'relais'): Promise<Subscription> {
    const s = await this.get(id);
    const terms = offerTerms(this.settings.offers, offer);
    if (terms.quota >= s.quota) {
      throw new InputError(`"${offer}" (${terms.quota} per 24 h) is not smaller than "${s.offer}" (${s.quota}): an upgrade is "relais subscription upgrade ${id} --offer ${offer}"`);
    }
    const deadline = s.termEnd - this.settings.downgradeNotice;
    if (this.clock.now() > deadline) {
      throw new InputError(
        `too late to downgrade subscription ${id} for its next term: a downgrade must be asked by ${iso(deadline)} (lifecycle.downgrade_notice before the end date ${iso(s.termEnd)}); it can be asked for the term after`,
      );
    }
    await this.store.subscriptions.requestNextOffer(id, offer, this.clock.now());
    await this.suspensions.record(s.credentialId, 'downgrade_requested', { actor, detail: { subscription: id, from: s.offer, to: offer, effective: iso(s.termEnd) } });
    return this.get(id);
  }

  orders(filter: { open?: boolean; customerId?: number } = {}): Promise<RenewalOrder[]> {
    return this.store.subscriptions.listOrders(filter);
  }

  /**
   * Staff validate a renewal order (paid). Before the end: the next term's plan is in place and starts at the end
   * date. After the end: the term starts (from the old end date), and the credential is reinstated at once, with
   * the late reinstatement fee.
   */
  async validateRenewal(orderId: number, actor = 'relais'): Promise<{ subscription: Subscription; order: RenewalOrder; reinstated: boolean }> {
    const order = await this.store.subscriptions.findOrder(orderId);
    if (!order) throw new InputError(`no renewal order with id ${orderId}: see "relais renewal list"`);
    if (order.validatedAt !== null) throw new InputError(`renewal order ${orderId} was already validated on ${iso(order.validatedAt)} by ${order.validatedBy}`);
    const s = await this.get(order.subscriptionId);
    const terms = this.nextTerms(s);
    if (!(await this.store.subscriptions.validateOrder(order, s.credentialId, terms, actor, this.clock.now()))) {
      throw new InputError(`renewal order ${orderId} was validated meanwhile: see "relais renewal list"`);
    }
    await this.suspensions.record(s.credentialId, 'renewal_validated', { actor, detail: { subscription: s.id, order: orderId, offer: terms.offer, term_end: iso(order.termEnd) } });
    let reinstated = false;
    if (this.clock.now() >= s.termEnd) {
      await this.store.subscriptions.startTerm(s.id, terms, order.termStart, order.termEnd);
      reinstated = await this.liftExpiry(s, actor);
    }
    const validated = (await this.store.subscriptions.findOrder(orderId)) as RenewalOrder;
    await this.notify(await this.get(s.id), 'renewed', { nextTermEnd: order.termEnd, orderId }, order.termEnd);
    return { subscription: await this.get(s.id), order: validated, reinstated };
  }

  /** The offer of the next term: the downgrade asked for, else the current one, at today's catalog price. */
  private nextTerms(s: Subscription): OfferTerms {
    const name = s.nextOffer ?? s.offer;
    return this.settings.offers[name] ? offerTerms(this.settings.offers, name) : { offer: s.offer, quota: s.quota, price: s.price };
  }

  private async liftExpiry(s: Subscription, actor: string): Promise<boolean> {
    const credential = await this.store.credentialById(s.credentialId);
    if (credential?.holdReason !== 'expired') return false;
    const { charges } = await this.suspensions.reinstate(s.credentialId, { actor, note: LATE_RENEWAL_NOTE });
    const fee = charges.map((c) => `${c.amount} ${c.currency}`).join(', ') || null;
    await this.notify(await this.get(s.id), 'reinstated', { fee, termStart: this.clock.now() }, this.clock.now());
    return true;
  }

  /**
   * One pass of the lifecycle: renewal orders and reminders when due, terms that roll over, subscriptions that
   * lapse. Idempotent: each notice is claimed once per term, each step checks the state it changes.
   */
  async runLifecycle(): Promise<{ orders: number; reminders: number; renewed: number; expired: number }> {
    const outcome = { orders: 0, reminders: 0, renewed: 0, expired: 0 };
    const now = this.clock.now();
    for (const s of await this.store.subscriptions.endingBefore(now + Math.max(this.settings.renewalNoticeBefore, this.settings.reminderBefore))) {
      await this.advance(s, now, outcome);
    }
    return outcome;
  }

  private async advance(start: Subscription, now: number, outcome: { orders: number; reminders: number; renewed: number; expired: number }): Promise<void> {
    let s = start;
    // A validated renewal rolls the term; with terms shorter than the job's interval, several may be due at once.
    for (let rolls = 0; rolls < 100; rolls++) {
      const nextEnd = termEnd(s.termEnd, this.settings.term);
      let order = await this.store.subscriptions.orderFor(s.id, s.termEnd);
      if (now >= s.termEnd - this.settings.renewalNoticeBefore && s.status === 'active') {
        const opened = await this.store.subscriptions.openOrder(s, nextEnd, now);
        order = opened.order;
        if (await this.notify(s, 'renewal_order', { nextTermEnd: nextEnd, orderId: order.id })) outcome.orders++;
      }
      if (order && order.validatedAt === null && now >= s.termEnd - this.settings.reminderBefore && now < s.termEnd) {
        if (await this.notify(s, 'reminder', { orderId: order.id })) outcome.reminders++;
      }
      if (now < s.termEnd) return;
      if (order?.validatedAt != null) {
        await this.store.subscriptions.startTerm(s.id, this.nextTermsOf(order, s), order.termStart, order.termEnd);
        outcome.renewed++;
        s = await this.get(s.id);
        continue;
      }
      if (s.status === 'active') {
        await this.store.subscriptions.setStatus(s.id, 'expired');
        await this.suspensions.suspend(s.credentialId, 'expired', {
          note: `subscription ${s.id} (${s.offer}) ended on ${iso(s.termEnd)} without a validated renewal`,
          detail: { subscription: s.id, order: order?.id ?? null },
        });
        if (await this.notify(s, 'expired', { orderId: order?.id, fee: this.settings.lateFee })) outcome.expired++;
      }
      return;
    }
  }

  private nextTermsOf(order: RenewalOrder, s: Subscription): OfferTerms {
    return order.offer && this.settings.offers[order.offer] ? offerTerms(this.settings.offers, order.offer) : this.nextTerms(s);
  }

  private language(stored: string | null): Language {
    return stored === 'fr' || stored === 'en' ? stored : this.settings.provider.language;
  }

  /**
   * The parameter sheet of a credential, as mailed at set-up and downloaded from the CLI and the console: its
   * current subscription (the latest term), quota, connection settings, SPF include and the DKIM records of the
   * domains it sends from. Never the password (see parameter-sheet.ts).
   */
  async sheet(username: string): Promise<{ pdf: Buffer; filename: string }> {
    const credential = await this.store.findCredential(username);
    if (!credential) throw new InputError(`no credential "${username}": see "relais credential list"`);
    const contact = await this.store.customerContact(credential.customerId);
    const now = this.clock.now();
    const current = (await this.store.subscriptions.list({ credentialId: credential.id })).filter((x) => x.termStart <= now && x.termEnd > now);
    const quota = (await this.store.listPlans(credential.id)).filter((p) => p.startsAt <= now && p.endsAt > now).reduce((sum, p) => sum + p.quota, 0);
    const used = new Set((await this.store.blocklists.senderDomains(credential.id)).map((d) => d.domain));
    const dkim = (await this.store.dkim.list()).filter((k) => used.has(k.domain)).map((k) => viewOf(k));
    const p = this.settings.provider;
    const facts: SheetFacts = {
      providerName: p.name,
      supportEmail: p.support_email ?? null,
      consoleUrl: p.console_url ?? null,
      customer: credential.customerName,
      username: credential.username,
      server: this.settings.connection.server,
      ports: this.settings.connection.ports,
      quota,
      subscriptions: current.map((x) => ({ offer: x.offer, quota: x.quota, termStart: x.termStart, termEnd: x.termEnd })),
      spfInclude: this.settings.spfInclude,
      dkim: dkim.map((k) => ({ dnsName: k.dnsName, txt: k.txt })),
    };
    const pdf = await parameterSheet(facts, this.language(contact?.language ?? null));
    return { pdf, filename: `${credential.username.replace(/[^A-Za-z0-9._-]/g, '_')}-parameters.pdf` };
  }

  /** Queues a notice to the customer's contact unless this one (kind, term) went out already. */
  private async notify(
    s: Subscription,
    kind: NoticeKind,
    extra: Partial<NoticeFacts>,
    termKey = s.termEnd,
    attachments: CustomerMail['attachments'] = undefined,
  ): Promise<boolean> {
    const facts = { customer: s.customer, username: s.username, offer: s.offer, quota: s.quota, termStart: s.termStart, termEnd: s.termEnd, ...extra };
    const message = await this.compose(s.customerId, kind, facts, attachments);
    return message ? this.store.subscriptions.sendNoticeOnce(s.id, kind, termKey, this.clock.now(), message) : false;
  }

  /**
   * Tells the customer of a suspension (other than quota, which the SMTP reply and the console explain, and
   * expiry, which has its own notice) and of a reinstatement. Called once per change, after it is committed.
   */
  async suspensionChanged(change: SuspensionChange): Promise<void> {
    if (change.reason === 'quota' || (change.reason === 'expired' && change.event.actor === AUTOMATIC_ACTOR)) return;
    if (change.reason === 'expired' && change.kind === 'reinstated' && change.event.note === LATE_RENEWAL_NOTE) return;
    const credential = await this.store.credentialById(change.credentialId);
    if (!credential) return;
    const fee = change.kind === 'reinstated' ? change.charges.map((c) => `${c.amount} ${c.currency}`).join(', ') || null : null;
    const message = await this.compose(
      credential.customerId,
      change.kind,
      { customer: credential.customerName, username: credential.username, offer: '', quota: 0, termStart: change.event.at, termEnd: change.event.at, reason: change.reason, fee },
      undefined,
    );
    if (message) await this.store.enqueue([message]);
  }

  /** A notice as a queued message to the customer's contact, in their language; undefined if the customer is gone. */
  private async compose(
    customerId: number,
    kind: NoticeKind,
    facts: Omit<NoticeFacts, 'providerName' | 'supportEmail' | 'consoleUrl'>,
    attachments: CustomerMail['attachments'],
  ) {
    const contact = await this.store.customerContact(customerId);
    if (!contact) return undefined;
    const p = this.settings.provider;
    const text = noticeText(kind, { providerName: p.name, supportEmail: p.support_email ?? null, consoleUrl: p.console_url ?? null, ...facts }, this.language(contact.language));
    const from = p.from ?? `postmaster@${this.settings.hostname}`;
    return customerMessage({ from, fromName: p.name, to: contact.email, ...text, attachments }, this.mail, this.clock.now());
  }
}
