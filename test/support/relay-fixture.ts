import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { RelaisConfig, RelaisConfigInput } from '../../src/config/schema.js';
import { startRelay, type Relay } from '../../src/relay.js';
import type { Clock } from '../../src/shared/clock.js';
import { captureLog, type CapturedLog } from './log-capture.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface TestRelay {
  relay: Relay;
  config: RelaisConfig;
  log: CapturedLog;
  dir: string;
  port(kind: 'submission' | 'smtps' | 'smtp' | 'inbound' | 'console'): number;
  /** A customer, a credential with the given quota (or several stacked plans), and its password. */
  addSender(quotas?: number | number[], username?: string): Promise<{ username: string; password: string }>;
  stop(): Promise<void>;
}

let counter = 0;

/**
 * A whole relay in this process, on ephemeral loopback ports, with its own data dir and its own database.
 * `overrides` is merged over a test configuration: quick timeouts, capture of every log line.
 */
export async function startTestRelay(
  options: { store?: StoreKind; clock?: Clock; overrides?: RelaisConfigInput; address?: string; sharedStoreUrl?: string } = {},
): Promise<TestRelay> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relais-test-'));
  let database: TestDatabase | undefined;
  let storeUrl = `sqlite:${path.join(dir, 'relais.db')}`;
  if (options.sharedStoreUrl) {
    // Another node of the same cluster: the database is the first node's, and dropped with it.
    storeUrl = options.sharedStoreUrl;
  } else if (options.store === 'postgres') {
    database = await createTestDatabase();
    storeUrl = database.url;
  }
  const address = options.address ?? '127.0.0.1';
  const overrides = options.overrides ?? {};
  const config = parseConfig({
    hostname: 'relay.test',
    data_dir: dir,
    // Submission tests keep their mail queued; delivery tests turn it on with their own DNS and receivers.
    delivery: { enabled: false },
    ...overrides,
    store: { ...overrides.store, url: storeUrl },
    // No console unless a test asks: its default port (8025) is one for the whole machine.
    listen: { submission: [`${address}:0`], smtps: [`${address}:0`], smtp: [`${address}:0`], console: [], ...overrides.listen },
  });
  const log = captureLog();
  const relay = await startRelay(config, { clock: options.clock, logger: log.logger });
  return {
    relay,
    config,
    log,
    dir,
    port(kind) {
      const listener = relay.listeners.find((l) => l.kind === kind);
      if (!listener) throw new Error(`no ${kind} listener`);
      return listener.port;
    },
    async addSender(quotas = 1000, username) {
      const name = `customer-${process.pid}-${++counter}`;
      await relay.accounts.addCustomer(name, 'contact@customer.test');
      const { credential, password } = await relay.accounts.addCredential(name, username);
      for (const quota of Array.isArray(quotas) ? quotas : [quotas]) await relay.accounts.addPlan(credential.username, { quota });
      return { username: credential.username, password };
    },
    async stop() {
      await relay.stop();
      await database?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
