import { InputError } from '../accounts/validation.js';
import type { Clock } from '../shared/clock.js';
import type { CredentialEvent } from '../store/credential-history.js';
import type { HeldSummary } from '../store/held-mail.js';
import { feesFor, type FeeLine, type FeeSchedule } from './fees.js';
import type { Store } from '../store/store.js';

/**
 * Why a credential's sending is suspended. `quota` lifts by itself as the window slides; every other reason is
 * lifted only by staff (reinstatement), because it follows harm to the shared addresses or the terms.
 */
export const SUSPENSION_REASONS = ['quota', 'complaint', 'blocklist', 'bounces', 'expired', 'manual'] as const;
export type SuspensionReason = (typeof SUSPENSION_REASONS)[number];

export const isSuspensionReason = (value: string): value is SuspensionReason => (SUSPENSION_REASONS as readonly string[]).includes(value);

/** Every reason but quota stops the credential's queued mail too and waits for staff. */
export const liftedByStaff = (reason: SuspensionReason): boolean => reason !== 'quota';

/** A reinstatement or refusal asked of a credential that has no suspension staff can lift: the caller's input. */
export class NotSuspended extends InputError {}
/** Another decider (a scan, another staff member) changed the suspension between reading and lifting it. */
export class SuspensionChanged extends InputError {}

export interface Reinstatement {
  event: CredentialEvent;
  charges: FeeLine[];
  released: HeldSummary;
}

/** A suspension that started, or a reinstatement, as the customer is told of it. */
export type SuspensionChange =
  | { kind: 'suspended'; credentialId: number; reason: SuspensionReason; event: CredentialEvent }
  | { kind: 'reinstated'; credentialId: number; reason: SuspensionReason; event: CredentialEvent; charges: FeeLine[] };

/** Who did it: a staff member's name, or this for what Relais decided by itself. */
export const AUTOMATIC_ACTOR = 'relais';

export interface EventInput {
  actor?: string;
  note?: string | null;
  detail?: Record<string, unknown> | null;
}

/**
 * Suspensions and the credential history they are written in: every face (CLI, console, API, background jobs)
 * suspends through here, so each suspension is recorded with its reason, actor and note.
 */
export class SuspensionService {
  private readonly listeners: ((change: SuspensionChange) => Promise<void>)[] = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Config `fees`: what a reinstatement is billed. */
    private readonly fees: FeeSchedule = {},
  ) {}

  /**
   * Suspends a credential that is not suspended yet. A credential already suspended keeps its first reason (the
   * one staff must look at); the new cause is still in the history as its own event (complaint, listing).
   * Returns the suspension event, or null when the credential was already suspended.
   */
  /** Called after each committed suspension or reinstatement (customer notices); a listener's failure is its own. */
  onChange(listener: (change: SuspensionChange) => Promise<void>): void {
    this.listeners.push(listener);
  }

  private async changed(change: SuspensionChange): Promise<void> {
    for (const listener of this.listeners) await listener(change);
  }

  async suspend(credentialId: number, reason: SuspensionReason, input: EventInput = {}): Promise<CredentialEvent | null> {
    const event = await this.store.history.setHold(
      credentialId,
      reason,
      {
        credentialId,
        at: this.clock.now(),
        kind: 'suspended',
        reason,
        actor: input.actor ?? AUTOMATIC_ACTOR,
        note: input.note ?? null,
        detail: input.detail ?? null,
      },
      { currentReason: null },
      // Mail queued before the suspension is held with it (not delivered, not expired) until staff decide.
      { mail: liftedByStaff(reason) ? 'hold' : undefined },
    );
    if (event) await this.changed({ kind: 'suspended', credentialId, reason, event });
    return event;
  }

  /**
   * Staff lift a suspension: sending works again, the held mail is released (due at once, its expiry moved on by
   * the time held) and the fees that apply to the reason are recorded as charges, all in one transaction.
   * `waiveFees` records the reinstatement without charges (a goodwill decision, written in its detail).
   */
  async reinstate(credentialId: number, input: EventInput & { waiveFees?: boolean } = {}): Promise<Reinstatement> {
    const reason = await this.staffLiftedReason(credentialId);
    const at = this.clock.now();
    const actor = input.actor ?? AUTOMATIC_ACTOR;
    const charges = input.waiveFees ? [] : feesFor(reason, this.fees);
    const waived = input.waiveFees ? feesFor(reason, this.fees) : [];
    const held = await this.store.heldMail.summary(credentialId);
    const event = await this.store.history.setHold(
      credentialId,
      null,
      {
        credentialId,
        at,
        kind: 'reinstated',
        reason,
        actor,
        note: input.note ?? null,
        detail: { released_messages: held.messages, ...(waived.length ? { waived_fees: waived } : {}), ...input.detail },
      },
      { currentReason: reason },
      {
        mail: 'release',
        events: charges.map((c) => ({ credentialId, at, kind: 'charge', reason, actor, note: input.note ?? null, detail: { ...c } })),
      },
    );
    if (!event) throw new SuspensionChanged(`the suspension of this credential changed meanwhile: look at its history and try again`);
    await this.changed({ kind: 'reinstated', credentialId, reason, event, charges });
    return { event, charges, released: held };
  }

  /** Staff refuse to lift a suspension: nothing changes but the history, which keeps the decision and why. */
  async refuse(credentialId: number, input: EventInput = {}): Promise<CredentialEvent> {
    const reason = await this.staffLiftedReason(credentialId);
    return this.record(credentialId, 'reinstatement_refused', { ...input, reason });
  }

  /** Staff let a suspended credential's held mail go out without reinstating it; recorded in its history. */
  async releaseHeldMail(credentialId: number, input: EventInput = {}): Promise<HeldSummary> {
    const released = await this.store.heldMail.release(credentialId, this.clock.now());
    if (released.messages === 0 && released.recipients === 0) return released;
    await this.record(credentialId, 'mail_released', { ...input, detail: { messages: released.messages, recipients: released.recipients, ...input.detail } });
    return released;
  }

  /** The reason of a suspension staff may lift now, or why there is none. */
  private async staffLiftedReason(credentialId: number): Promise<SuspensionReason> {
    const credential = await this.store.credentialById(credentialId);
    if (!credential) throw new NotSuspended(`no credential with id ${credentialId}`);
    const reason = credential.holdReason;
    if (reason === null) throw new NotSuspended(`credential "${credential.username}" is not suspended: nothing to reinstate`);
    if (!isSuspensionReason(reason) || !liftedByStaff(reason)) {
      throw new NotSuspended(`credential "${credential.username}" is held for "${reason}", which lifts by itself, not by staff`);
    }
    return reason;
  }

  /** An event that does not change the hold: a complaint, a virus find, a listing of a sender domain, a charge. */
  async record(credentialId: number, kind: string, input: EventInput & { reason?: string | null } = {}): Promise<CredentialEvent> {
    return this.store.history.record({
      credentialId,
      at: this.clock.now(),
      kind,
      reason: input.reason ?? null,
      actor: input.actor ?? AUTOMATIC_ACTOR,
      note: input.note ?? null,
      detail: input.detail ?? null,
    });
  }

  history(credentialId: number): Promise<CredentialEvent[]> {
    return this.store.history.list(credentialId);
  }
}
