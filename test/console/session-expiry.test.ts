import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginService } from '../../src/accounts/console-logins.js';
import { ManualClock } from '../../src/shared/clock.js';
import { openTestStore } from '../support/test-store.js';

const HOUR = 3_600_000;

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`console sessions slide with use, end at session_max, and expired ones are purged (${kind})`, async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 9, 0));
    const { store, cleanup } = await openTestStore(kind, clock.now());
    try {
      // The shipped settings: 2 h idle, 12 h at most.
      const logins = new LoginService(store, clock, { idleMs: 2 * HOUR, maxMs: 12 * HOUR });
      const { login } = await logins.add('ops@provider.test', null);
      const { cookie } = await logins.openSession(login, '127.0.0.1');
      for (let i = 0; i < 11; i++) {
        clock.advance(HOUR);
        assert.ok(await logins.resume(cookie), `in use every hour, still signed in after ${i + 1} h`);
      }
      clock.advance(HOUR + 1);
      assert.equal(await logins.resume(cookie), undefined, 'past session_max, even in use');
      const idle = await logins.openSession(login, '127.0.0.1');
      clock.advance(2 * HOUR + 1);
      assert.equal(await logins.resume(idle.cookie), undefined, 'past session_idle without a request');
      assert.equal(await logins.purgeExpired(), 2);
      assert.equal(await logins.purgeExpired(), 0);
    } finally {
      await cleanup();
    }
  });
}
