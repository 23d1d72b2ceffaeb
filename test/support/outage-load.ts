import pg from 'pg';
import { RawSmtpClient } from './smtp-clients.js';

/** Submission load for store-outage tests: clients that submit without pause and note every reply. */

export const STORE_TROUBLE = /^451 4\.3\.0 /;
// RFC 4954: a temporary failure to check a login is 454 4.7.0 (a cached login answers 235 without the store).
export const AUTH_TROUBLE = /^454 4\.7\.0 /;

export interface Tally {
  /** Queue id of every message that got a 250, with the time it did. */
  accepted: Map<string, number>;
  /** Every refusal, `stage: reply`, with its time. */
  refused: { at: number; stage: string; reply: string }[];
  /** Anything that is neither: a wrong reply, a reply that never came. */
  wrong: string[];
}


/** A submission client: one message after another on one connection (a new one when it is closed), every reply noted. */
export async function submitUntil(stop: () => boolean, o: { host: string; localAddress: string; port: number; password: string; worker: number; tally: Tally }): Promise<void> {
  let n = 0;
  while (!stop()) {
    let client: RawSmtpClient;
    try {
      client = await RawSmtpClient.connect(o.port, { host: o.host, localAddress: o.localAddress });
      await client.command('EHLO client.outage.test');
      await client.startTls();
      const auth = await client.login('crash', o.password);
      if (!auth.startsWith('235 ')) {
        o.tally.refused.push({ at: Date.now(), stage: 'auth', reply: auth });
        client.close();
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
    } catch (error) {
      o.tally.wrong.push(`connect: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      while (!stop()) {
        const subject = `outage-${o.worker}-${n++}`;
        const steps: [string, string, RegExp][] = [
          ['mail', 'MAIL FROM:<app@crash.test>', /^250 /],
          ['rcpt', `RCPT TO:<user${n % 5}@dest${o.worker}.test>`, /^250 /],
          ['data', 'DATA', /^354 /],
          ['dot', `Subject: ${subject}\r\n\r\nbody of ${subject}\r\n.`, /^250 /],
        ];
        let refusedAt: string | null = null;
        for (const [stage, line, expected] of steps) {
          const reply = await client.command(line);
          if (expected.test(reply)) {
            if (stage === 'dot') o.tally.accepted.set(/queued as (\w+)/.exec(reply)?.[1] ?? `?${subject}`, Date.now());
            continue;
          }
          if (STORE_TROUBLE.test(reply)) o.tally.refused.push({ at: Date.now(), stage, reply });
          else o.tally.wrong.push(`${stage}: ${reply}`);
          refusedAt = stage;
          break;
        }
        if (refusedAt !== null) {
          if (refusedAt !== 'dot') await client.command('RSET');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await client.command('QUIT').catch(() => undefined);
    } catch (error) {
      o.tally.wrong.push(`session: ${(error as Error).message}`);
    } finally {
      client.close();
    }
  }
}

export async function recipientStates(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string; n: string }>('SELECT state, COUNT(*) AS n FROM recipients GROUP BY state ORDER BY state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  } finally {
    await client.end();
  }
}

export async function firstAcceptedAfter(tally: Tally, since: number, withinMs: number): Promise<number> {
  let first = 0;
  await waitUntil(
    () => {
      for (const at of tally.accepted.values()) if (at >= since && (first === 0 || at < first)) first = at;
      return first > 0;
    },
    withinMs,
    'a 250 after the database came back',
  );
  return first;
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every message that got a 250 reached the receiver (found by the queue id in the relay's Received
 * header) and the queue holds only delivered recipients; returns what was still missing, the recipients by
 * state, and how many messages arrived more than once.
 */
export async function awaitEverythingDelivered(o: {
  tally: Tally;
  received: () => readonly { raw: Buffer }[];
  storeUrl: string;
  hostname: string;
}): Promise<{ missing: string[]; states: Record<string, number>; doubled: number }> {
  const pattern = new RegExp(`by ${o.hostname.replace(/\./g, '\\.')} \\(Relais\\) with \\S+ id (\\w+)`);
  const queueIdOf = (raw: Buffer) => pattern.exec(raw.toString('latin1'))?.[1] ?? '';
  let missing: string[] = [];
  await waitUntil(
    () => {
      const received = new Set(o.received().map((m) => queueIdOf(m.raw)));
      missing = [...o.tally.accepted.keys()].filter((id) => !received.has(id));
      return missing.length === 0;
    },
    60_000,
    'every accepted message delivered',
  ).catch(() => undefined);
  let states: Record<string, number> = {};
  await waitUntil(
    async () => {
      states = await recipientStates(o.storeUrl);
      return Object.keys(states).every((state) => state === 'delivered');
    },
    30_000,
    'the queue settled',
  ).catch(() => undefined);
  const counts = new Map<string, number>();
  for (const m of o.received()) counts.set(queueIdOf(m.raw), (counts.get(queueIdOf(m.raw)) ?? 0) + 1);
  return { missing, states, doubled: [...counts.values()].filter((n) => n > 1).length };
}

/** Quota reservations still held: each transaction ended (committed or refused) must have released its own. */
export async function heldReservations(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM quota_reservations');
    return Number(rows[0]?.n ?? -1);
  } finally {
    await client.end();
  }
}
