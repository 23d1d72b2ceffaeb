import { isSuspensionReason, liftedByStaff } from '../../reputation/suspensions.js';
import type { Services } from '../../services.js';
import type { CredentialEvent } from '../../store/credential-history.js';
import type { HeldSummary } from '../../store/held-mail.js';
import type { Credential } from '../../store/records.js';
import type { Viewer } from '../viewer.js';
import { assertStaff } from './staff-only.js';

export interface SuspendedCredential {
  credential: Credential;
  reason: string;
  since: number | null;
  /** The suspension event: who suspended it and the note they wrote (null for a suspension older than the history). */
  suspension: CredentialEvent | null;
  /** The last refusal to reinstate since the suspension, if any. */
  refusal: CredentialEvent | null;
  held: HeldSummary;
  /** Staff may reinstate or refuse it (every reason but quota, which lifts by itself). */
  staffLifted: boolean;
}

export interface SuspensionsView {
  suspended: SuspendedCredential[];
  /** Credentials that could be suspended now, for the suspend form. */
  active: Credential[];
}

/** Suspended credentials with their reason, since when and the note, and those staff could suspend. */
export async function suspensionsView(services: Services, viewer: Viewer): Promise<SuspensionsView> {
  assertStaff(viewer);
  const credentials = await services.accounts.listCredentials();
  const suspended: SuspendedCredential[] = [];
  for (const credential of credentials.filter((c) => c.holdReason !== null)) {
    const reason = credential.holdReason as string;
    const history = await services.suspensions.history(credential.id);
    const latest = (kind: string) =>
      history.filter((e) => e.kind === kind && (credential.holdSince === null || e.at >= credential.holdSince)).sort((a, b) => b.at - a.at || b.id - a.id)[0] ?? null;
    suspended.push({
      credential,
      reason,
      since: credential.holdSince,
      suspension: latest('suspended'),
      refusal: latest('reinstatement_refused'),
      held: await services.store.heldMail.summary(credential.id),
      staffLifted: isSuspensionReason(reason) && liftedByStaff(reason),
    });
  }
  suspended.sort((a, b) => (b.since ?? 0) - (a.since ?? 0));
  return { suspended, active: credentials.filter((c) => c.holdReason === null) };
}
