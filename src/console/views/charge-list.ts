import type { Services } from '../../services.js';
import type { Viewer } from '../viewer.js';
import { visibleCredentials } from './own-credentials.js';

export interface ChargeRow {
  at: number;
  customer: string;
  credential: string;
  fee: string;
  amount: string;
  currency: string;
  reason: string | null;
  note: string | null;
}

/** Charges (reinstatement fees, blocklist removal work) on the credentials the viewer may see, oldest first. */
export async function visibleCharges(services: Services, viewer: Viewer): Promise<ChargeRow[]> {
  const credentials = new Map((await visibleCredentials(services, viewer)).map((c) => [c.id, c]));
  const events = await services.store.history.listAll({ kinds: ['charge'] });
  const rows: ChargeRow[] = [];
  for (const e of events) {
    const c = credentials.get(e.credentialId);
    if (!c) continue;
    const d = e.detail ?? {};
    rows.push({
      at: e.at,
      customer: c.customerName,
      credential: c.username,
      fee: String(d.fee ?? '-'),
      amount: String(d.amount ?? '0'),
      currency: String(d.currency ?? '-'),
      reason: e.reason,
      note: e.note,
    });
  }
  return rows;
}
