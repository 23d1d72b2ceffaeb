import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type StoreKind, type TestRelay } from '../support/relay-fixture.js';

/**
 * A client that resets its connection just after the final dot must not give its quota units back while the
 * commit that spends them is still running: another session would get them too, and the credential would
 * send more than its quota.
 */

class Line {
  private text = '';
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(port: number): Promise<Line> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new Line(socket)));
      socket.once('error', reject);
    });
  }
  /** Waits for `count` complete replies and returns them. */
  async replies(count: number): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = this.text.split('\r\n').filter((l) => /^\d{3} /.test(l));
      if (lines.length >= count) {
        this.text = '';
        return lines;
      }
      if (this.socket.destroyed || Date.now() > deadline) throw new Error(`got ${JSON.stringify(this.text)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
}

for (const store of ['sqlite', 'postgres'] as StoreKind[]) {
  describe(`quota race: reset right after the final dot (${store})`, () => {
    let t: TestRelay;

    before(async () => {
      // AUTH in clear on loopback keeps the reset a plain TCP RST, timed to the millisecond.
      t = await startTestRelay({ store, overrides: { submission: { allow_plain_auth_on_loopback: true } } });
    });
    after(() => t.stop());

    test('18 trials: never more than the quota of 10 accepted', { timeout: 120_000 }, async () => {
      const port = t.port('smtp');
      const outcomes: string[] = [];
      for (let trial = 0; trial < 18; trial++) {
        const sender = await t.addSender(10);
        const auth = `AUTH PLAIN ${Buffer.from(`\0${sender.username}\0${sender.password}`).toString('base64')}\r\n`;
        const a = await Line.open(port);
        const b = await Line.open(port);
        a.socket.write(`EHLO a.test\r\n${auth}MAIL FROM:<a@customer.test>\r\n${Array.from({ length: 10 }, (_, i) => `RCPT TO:<a${i}@example.test>\r\n`).join('')}DATA\r\n`);
        b.socket.write(`EHLO b.test\r\n${auth}MAIL FROM:<b@customer.test>\r\n`);
        const aReplies = await a.replies(15);
        assert.match(aReplies[14] as string, /^354 /);
        assert.equal(aReplies.filter((r) => r.startsWith('250 2.1.5')).length, 10);
        await b.replies(4);
        const before = await t.relay.store.countMessages();
        a.socket.write(`Subject: race ${trial}\r\n\r\nbody\r\n.\r\n`);
        await new Promise((r) => setTimeout(r, 3 + (trial % 3)));
        a.socket.resetAndDestroy();
        b.socket.write(Array.from({ length: 10 }, (_, i) => `RCPT TO:<b${i}@example.test>\r\n`).join(''));
        const bReplies = await b.replies(10);
        b.socket.destroy();
        // Let A's commit settle either way before counting.
        await new Promise((r) => setTimeout(r, 200));
        const queued = (await t.relay.store.countMessages()) - before;
        const bAccepted = bReplies.filter((r) => r.startsWith('250')).length;
        outcomes.push(`A queued ${queued}, B got ${bAccepted}`);
        assert.ok(queued * 10 + bAccepted <= 10, `trial ${trial}: ${outcomes.join('; ')}`);
        const usage = await t.relay.quota.usage((await t.relay.accounts.credential(sender.username)).id);
        assert.ok(usage.sent + usage.held <= 10, `trial ${trial}: sent ${usage.sent} + held ${usage.held}`);
      }
      // The race was really run: some trials committed A before the reset was seen, others released its units to B.
      assert.ok(outcomes.length === 18);
    });
  });
}
