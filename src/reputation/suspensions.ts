import type { Clock } from '../shared/clock.js';
import type { CredentialEvent } from '../store/credential-history.js';
import type { Store } from '../store/store.js';

/**
 * Why a credential's sending is suspended. `quota` lifts by itself as the window slides; every other reason is
 * lifted only by staff (reinstatement), because it follows harm to the shared addresses or the terms.
 */
export const SUSPENSION_REASONS = ['quota', 'complaint', 'blocklist', 'bounces', 'expired', 'manual'] as const;
export type SuspensionReason = (typeof SUSPENSION_REASONS)[number];

export const isSuspensionReason = (value: string): value is SuspensionReason => (SUSPENSION_REASONS as readonly string[]).includes(value);

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
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Suspends a credential that is not suspended yet. A credential already suspended keeps its first reason (the
   * one staff must look at); the new cause is still in the history as its own event (complaint, listing).
   * Returns the suspension event, or null when the credential was already suspended.
   */
  async suspend(credentialId: number, reason: SuspensionReason, input: EventInput = {}): Promise<CredentialEvent | null> {
    return this.store.history.setHold(
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
    );
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
