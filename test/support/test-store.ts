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
