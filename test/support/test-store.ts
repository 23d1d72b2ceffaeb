import type { NewMessage } from '../../src/store/records.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/store.js';
import { createTestDatabase } from './postgres.js';

/** A fresh store of either kind for a store-level test, and how to throw it away. */
export async function openTestStore(kind: 'sqlite' | 'postgres', at: number): Promise<{ store: Store; cleanup(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-store-'));
    const store = await Store.open(`sqlite:${path.join(dir, 'relais.db')}`, at);
    return { store, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const db = await createTestDatabase();
  return { store: await Store.open(db.url, at), cleanup: () => db.drop() };
}

/**
 * A message as submission would queue it (a notice when `credentialId` is null), retried every 15 minutes;
 * `life` shortens its give-up and delay-notice times (default 7 days and 1 hour).
 */
export function testMessage(
  id: string,
  credentialId: number | null,
  recipients: string[],
  at: number,
  life: { giveUpAfter: number; delayNoticeAfter: number } = { giveUpAfter: 7 * 86_400_000, delayNoticeAfter: 3_600_000 },
): NewMessage {
  return {
    id,
    credentialId,
    kind: credentialId === null ? 'notice' : 'message',
    mailFrom: credentialId === null ? '' : 'from@customer.test',
    envid: null,
    ret: null,
    clientIp: '127.0.0.1',
    body: Buffer.from(`Subject: ${id}\r\n\r\nbody\r\n`),
    recipients: recipients.map((address) => ({ address, domain: address.split('@')[1] as string, orcpt: null, notify: null })),
    createdAt: at,
    retryEvery: 900_000,
    giveUpAt: at + life.giveUpAfter,
    delayNoticeAt: at + life.delayNoticeAfter,
    reservationId: null,
    usageBucket: Math.floor(at / 60_000) * 60_000,
  };
}
