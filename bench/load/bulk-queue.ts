import type { SqlDatabase } from '../../src/store/sql.js';

/**
 * Loads `count` deferred recipients (ten per message, over a thousand domains, due in an hour) straight into a
 * store: the benchmarks measure the relay with a big queue, not the time to fill it.
 */
export async function loadDeferredQueue(db: SqlDatabase, count: number, body: Buffer, now = Date.now(), idPrefix = 'BULK'): Promise<void> {
  const perMessage = 10;
  const later = now + 3_600_000;
  const messagesPerTransaction = 10_000;
  for (let start = 0; start < count / perMessage; start += messagesPerTransaction) {
    await db.transaction(
      async (tx) => {
        for (let m = start; m < Math.min(count / perMessage, start + messagesPerTransaction); m++) {
          const id = `${idPrefix}${String(m).padStart(10, '0')}`;
          await tx.run(
            `INSERT INTO messages (id, credential_id, kind, mail_from, size, created_at, retry_every, give_up_at, delay_notice_at, delay_notice_sent)
             VALUES (?, NULL, 'message', 'bulk@source.test', ?, ?, 900000, ?, ?, 1)`,
            [id, body.length, now, now + 7 * 86_400_000, now + 3_600_000],
          );
          await tx.run('INSERT INTO message_bodies (message_id, body) VALUES (?, ?)', [id, body]);
          const values: (string | number)[] = [];
          for (let r = 0; r < perMessage; r++) values.push(id, `r${r}@deferred${m % 1000}.test`, `deferred${m % 1000}.test`, 'deferred', later, now);
          await tx.run(
            `INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, updated_at) VALUES ${Array.from({ length: perMessage }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
            values,
          );
        }
      },
      { durable: false },
    );
  }
}
