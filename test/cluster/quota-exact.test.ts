import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { startCluster, waitUntil, type Cluster } from '../support/cluster.js';
import { openAuthenticated, sendOn } from '../support/smtp-clients.js';

/**
 * The quota is one for the whole service: concurrent sessions on one credential, spread over three nodes on one
 * PostgreSQL database, get exactly the quota's recipients accepted, and every refusal is the quota's 451.
 */
const QUOTA = 45;
let c: Cluster;
before(async () => {
  c = await startCluster({ net: '127.0.113', quota: QUOTA });
});
after(async () => c?.stop());

interface RcptError {
  response?: string;
  recipient?: string;
}

test('concurrent sessions on one credential over three nodes accept exactly the quota', { timeout: 60_000 }, async () => {
  const perNode = 4;
  const sessions: SMTPConnection[] = await Promise.all(
    c.nodes.flatMap((node) => Array.from({ length: perNode }, () => openAuthenticated({ host: node.host, port: node.port, username: c.username, password: c.password }))),
  );
  let accepted = 0;
  const refusals: string[] = [];
  const acceptedBy = new Map<string, number>();
  let n = 0;
  // Three recipients a message, so reservations race within a transaction as well as between sessions; every
  // session goes on until a whole message is refused.
  await Promise.all(
    sessions.map(async (connection, s) => {
      const node = c.nodes[Math.floor(s / perNode)]!.name;
      for (;;) {
        const m = n++;
        const to = [0, 1, 2].map((r) => `user${m}-${r}@dest${r}.test`);
        try {
          const info = await sendOn(connection, 'app@cluster.test', to, `Subject: quota-${m}\r\n\r\nbody\r\n`);
          accepted += info.accepted.length;
          acceptedBy.set(node, (acceptedBy.get(node) ?? 0) + info.accepted.length);
          for (const e of (info.rejectedErrors ?? []) as RcptError[]) refusals.push(String(e.response));
        } catch (error) {
          const rejected = (error as { rejectedErrors?: RcptError[] }).rejectedErrors;
          assert.ok(rejected && rejected.length === to.length, `a message failed otherwise than by its recipients being refused: ${(error as Error).message}`);
          for (const e of rejected) refusals.push(String(e.response));
          break;
        }
      }
      connection.quit();
    }),
  );
  assert.equal(accepted, QUOTA, `accepted ${accepted} recipients over three nodes (${[...acceptedBy].map(([k, v]) => `${k}: ${v}`).join(', ')}), the quota is ${QUOTA}`);
  assert.ok(acceptedBy.size >= 2, `every acceptance came from one node (${[...acceptedBy.keys()].join(', ')}): the race was not over nodes`);
  assert.ok(refusals.length >= sessions.length * 3);
  for (const reply of refusals) assert.match(reply, new RegExp(`^451 4\\.7\\.1 Sending quota of ${QUOTA} recipients per 24 hours reached`));

  // What the store counts agrees, once the reservations are committed: and the mail goes out.
  const usage = await c.withStore(async (s) => {
    const credential = await s.store.db.get<{ id: number }>('SELECT id FROM credentials WHERE username = ?', [c.username]);
    const used = await s.store.db.get<{ n: number }>('SELECT COALESCE(SUM(units), 0) AS n FROM quota_usage WHERE credential_id = ?', [Number(credential?.id)]);
    const held = await s.store.db.get<{ n: number }>('SELECT COALESCE(SUM(units), 0) AS n FROM quota_reservations WHERE credential_id = ?', [Number(credential?.id)]);
    return { used: Number(used?.n), held: Number(held?.n) };
  });
  assert.deepEqual(usage, { used: QUOTA, held: 0 });
  assert.ok(await waitUntil(() => c.receiver.messages.reduce((k, m) => k + m.rcptTo.length, 0) >= QUOTA, 30_000), 'the accepted recipients are delivered');
});
