import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import YAML from 'yaml';
import type { RelaisConfigInput } from '../../src/config/schema.js';
import { EICAR, EICAR_VIRUS_NAME, startClamd, type ClamdPeer } from '../peers/clamd.js';
import { freePort } from '../peers/ports.js';
import { SENDER, startDeliveryWorld, type DeliveryWorld } from '../support/delivery-world.js';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';

/**
 * Antivirus at submission (issue 9, section 5), with a real clamd holding the EICAR-only database: every message
 * is scanned before its 250; infected mail is refused and never queued; a clamd that is down or hangs gets the
 * client a 451 (or, if the operator says so, the message goes out marked as not scanned).
 */

interface Sent {
  ok: boolean;
  /** The final reply to DATA (or the error's response). */
  response: string;
  code: number;
}

/** Submits with nodemailer over implicit TLS; a refusal is a result, not an exception. */
async function submit(port: number, sender: { username: string; password: string }, message: { to: string; subject: string; text: string; attachments?: { filename: string; content: string }[] }): Promise<Sent> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: true,
    auth: { user: sender.username, pass: sender.password },
    tls: { rejectUnauthorized: false },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
  });
  try {
    const info = await transport.sendMail({ from: SENDER, to: message.to, subject: message.subject, text: message.text, attachments: message.attachments });
    return { ok: true, response: info.response, code: Number(info.response.slice(0, 3)) };
  } catch (error) {
    const e = error as { response?: string; responseCode?: number; message: string };
    return { ok: false, response: e.response ?? e.message, code: e.responseCode ?? 0 };
  } finally {
    transport.close();
  }
}

const eicarAttachment = [{ filename: 'invoice.com', content: EICAR }];

/** A TCP listener that accepts and never says a word: a clamd wedged under load. Counts what is still open. */
async function startSilentListener(address: string): Promise<{ port: number; open(): number; accepted(): number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    // Read and discard, like a server that takes the stream and then stalls.
    socket.resume();
  });
  const port = await freePort(address);
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    port,
    open: () => sockets.size,
    accepted: () => accepted,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A TCP relay in front of the real clamd that holds each answer back for `delayMs` and records how many scans
 * were in progress at once: overlapping scans show as a peak above one.
 */
async function startCountingProxy(address: string, clamd: ClamdPeer, delayMs: number) {
  let current = 0;
  let peak = 0;
  const server = net.createServer((client) => {
    // A scan is in progress from its connection until its answer is passed on (the relay frees its slot only
    // once it has the answer, so counting up to then never counts a finished scan).
    current++;
    peak = Math.max(peak, current);
    let answered = false;
    const upstream = net.connect({ host: clamd.address, port: clamd.port });
    const close = () => {
      if (!answered) {
        answered = true;
        current--;
      }
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    client.pipe(upstream);
    const reply: Buffer[] = [];
    upstream.on('data', (chunk: Buffer) => reply.push(chunk));
    upstream.on('end', () =>
      setTimeout(() => {
        if (!answered) {
          answered = true;
          current--;
        }
        client.end(Buffer.concat(reply));
      }, delayMs),
    );
  });
  const port = await freePort(address);
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    address,
    port,
    peak: () => peak,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

function writeCliConfig(w: DeliveryWorld): string {
  const file = path.join(w.relay.dir, 'relais.yaml');
  fs.writeFileSync(file, YAML.stringify({ hostname: 'relay.test', data_dir: w.relay.dir, store: { url: w.relay.config.store.url } }));
  return file;
}

async function queueIds(configFile: string): Promise<string[]> {
  const out = await runCli(['queue', 'list', '--json', '--config', configFile]);
  assert.equal(out.code, 0, out.stderr);
  return (JSON.parse(out.stdout) as { id: string }[]).map((m) => m.id);
}

const CLEAN_ZONES = {
  'clean.test': { mx: [{ pref: 10, host: 'mx.clean.test' }] },
  'mx.clean.test': { a: ['127.0.93.10'] },
};

describe('antivirus with a real clamd (on_error: tempfail, the default)', () => {
  let clamd: ClamdPeer;
  let w: DeliveryWorld;
  let configFile: string;

  before(async () => {
    clamd = await startClamd({ address: '127.0.93.1' });
    w = await startDeliveryWorld({
      systemClock: true,
      zones: CLEAN_ZONES,
      receivers: [{ address: '127.0.93.10', name: 'mx.clean.test' }],
      overrides: { antivirus: { clamd: `${clamd.address}:${clamd.port}`, timeout: '10s' } },
    });
    configFile = writeCliConfig(w);
  });
  after(async () => {
    await w?.stop();
    await clamd?.stop();
  });

  test('EICAR in an attachment: 554 naming the signature, nothing queued, quota given back, an event in the history', async () => {
    const before = await w.relay.relay.quota.usage((await w.relay.relay.accounts.credential(w.sender.username)).id);
    const sent = await submit(w.relay.port('smtps'), w.sender, { to: 'someone@clean.test', subject: 'your invoice', text: 'See attached.', attachments: eicarAttachment });
    assert.equal(sent.ok, false);
    assert.equal(sent.response, `554 5.7.1 Message refused: virus found (${EICAR_VIRUS_NAME})`);
    assert.deepEqual(await queueIds(configFile), []);
    const credential = await w.relay.relay.accounts.credential(w.sender.username);
    const usage = await w.relay.relay.quota.usage(credential.id);
    assert.equal(usage.sent, before.sent);
    assert.equal(usage.held, 0, 'the RCPT reservation is released');
    const events = await w.relay.relay.suspensions.history(credential.id);
    const virus = events.filter((e) => e.kind === 'virus');
    assert.equal(virus.length, 1);
    assert.equal(virus[0]?.detail?.signature, EICAR_VIRUS_NAME);
    assert.match(String(virus[0]?.detail?.messageId), /^<.+@.+>$/);
    // Refused for a virus, not suspended: the next clean message goes through.
    assert.equal(credential.holdReason, null);
    assert.ok(w.relay.log.find('virus_found').some((l) => l.signature === EICAR_VIRUS_NAME));
  });

  test('clean mail: 250, and the receiver gets it without any scan header', async () => {
    const rx = w.receiver('127.0.93.10');
    rx.clear();
    const sent = await submit(w.relay.port('smtps'), w.sender, { to: 'friend@clean.test', subject: 'hello', text: 'Nothing to see.' });
    assert.equal(sent.ok, true, sent.response);
    assert.match(sent.response, /^250 2\.0\.0 Ok: queued as \w+/);
    const [got] = await rx.waitFor(1, 15_000);
    assert.match(got?.raw.toString() ?? '', /Nothing to see\./);
    assert.doesNotMatch(got?.raw.toString() ?? '', /X-Relais-Virus-Scan/i);
  });

  test('several messages at once, clean and infected, each gets its own verdict', async () => {
    const rx = w.receiver('127.0.93.10');
    rx.clear();
    const port = w.relay.port('smtps');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        submit(port, w.sender, { to: `batch${i}@clean.test`, subject: `batch ${i}`, text: `message ${i}`, attachments: i % 4 === 3 ? eicarAttachment : undefined }),
      ),
    );
    results.forEach((r, i) => {
      if (i % 4 === 3) assert.equal(r.response, `554 5.7.1 Message refused: virus found (${EICAR_VIRUS_NAME})`);
      else assert.match(r.response, /^250 /, `message ${i}: ${r.response}`);
    });
    const got = await rx.waitFor(6, 20_000);
    assert.deepEqual(got.map((m) => m.rcptTo[0]?.address).sort(), ['batch0', 'batch1', 'batch2', 'batch4', 'batch5', 'batch6'].map((n) => `${n}@clean.test`));
  });

  test('clamd stopped: 451 4.3.0 saying the scanner could not be reached, nothing queued', async () => {
    await w.settle(20_000);
    const queuedBefore = (await queueIds(configFile)).length;
    await clamd.stop();
    const sent = await submit(w.relay.port('smtps'), w.sender, { to: 'later@clean.test', subject: 'while clamd is down', text: 'Please retry me.' });
    assert.equal(sent.ok, false);
    assert.match(sent.response, /^451 4\.3\.0 Virus scan failed \(clamd unreachable: ECONNREFUSED\); message not accepted, try again later$/);
    assert.equal((await queueIds(configFile)).length, queuedBefore);
    // The operator's log says where clamd was looked for; the client is not told.
    assert.ok(w.relay.log.find('virus_scan_failed').some((l) => l.clamd === `${clamd.address}:${clamd.port}` && l.action === 'tempfail'));
  });
});

describe('antivirus: a clamd that never answers, and the other policies', () => {
  const relays: TestRelay[] = [];
  let clamd: ClamdPeer;
  let silent: Awaited<ReturnType<typeof startSilentListener>>;

  before(async () => {
    clamd = await startClamd({ address: '127.0.93.2' });
    silent = await startSilentListener('127.0.93.3');
  });
  after(async () => {
    for (const r of relays) await r.stop();
    await silent?.stop();
    await clamd?.stop();
  });

  async function relayWith(antivirus: NonNullable<RelaisConfigInput['antivirus']>): Promise<{ relay: TestRelay; sender: { username: string; password: string } }> {
    const relay = await startTestRelay({ overrides: { antivirus } });
    relays.push(relay);
    return { relay, sender: await relay.addSender(1000) };
  }

  test('a clamd that accepts and never answers: 451 after antivirus.timeout, and its connection is cut', async () => {
    const { relay, sender } = await relayWith({ clamd: `127.0.93.3:${silent.port}`, timeout: '1s' });
    const acceptedBefore = silent.accepted();
    const sent = await submit(relay.port('smtps'), sender, { to: 'x@clean.test', subject: 'stuck', text: 'hello' });
    assert.equal(sent.response, '451 4.3.0 Virus scan failed (clamd did not answer within 1s); message not accepted, try again later');
    assert.equal(silent.accepted(), acceptedBefore + 1);
    // The relay closed its side: the listener sees the connection go, nothing is left open.
    for (let i = 0; i < 100 && silent.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(silent.open(), 0);
    assert.equal(await relay.relay.store.countMessages(), 0);
  });

  test('scans overlap, at most antivirus.max_concurrent_scans at once', async () => {
    const proxy = await startCountingProxy('127.0.93.4', clamd, 400);
    try {
      const { relay, sender } = await relayWith({ clamd: `${proxy.address}:${proxy.port}`, max_concurrent_scans: 3, timeout: '20s' });
      const results = await Promise.all(
        Array.from({ length: 7 }, (_, i) => submit(relay.port('smtps'), sender, { to: `c${i}@clean.test`, subject: `c${i}`, text: `c${i}`, attachments: i === 5 ? eicarAttachment : undefined })),
      );
      results.forEach((r, i) => assert.match(r.response, i === 5 ? /^554 5\.7\.1 Message refused: virus found/ : /^250 /, `message ${i}`));
      assert.ok(proxy.peak() >= 2, `scans overlapped (peak ${proxy.peak()})`);
      assert.ok(proxy.peak() <= 3, `never more than max_concurrent_scans (peak ${proxy.peak()})`);
      assert.equal(await relay.relay.store.countMessages(), 6);
    } finally {
      await proxy.stop();
    }
  });

  test('over antivirus.max_size: refused with over_max_size: refuse, first bytes scanned with scan_prefix', async () => {
    const padding = 'x'.repeat(70) + '\n';
    const big = padding.repeat(100); // about 7 KB of text before the attachment
    const refusing = await relayWith({ clamd: `${clamd.address}:${clamd.port}`, max_size: '4KB', over_max_size: 'refuse' });
    const refused = await submit(refusing.relay.port('smtps'), refusing.sender, { to: 'a@clean.test', subject: 'big', text: big });
    assert.equal(refused.response, '552 5.3.4 Message size exceeds the virus scanning limit of 4096 bytes');
    const small = await submit(refusing.relay.port('smtps'), refusing.sender, { to: 'a@clean.test', subject: 'small', text: 'short' });
    assert.match(small.response, /^250 /);

    const prefix = await relayWith({ clamd: `${clamd.address}:${clamd.port}`, max_size: '4KB' });
    // The virus sits past the first 4 KB: what the operator chose not to scan is not scanned, and the message says so.
    const tail = await submit(prefix.relay.port('smtps'), prefix.sender, { to: 'b@clean.test', subject: 'tail', text: big, attachments: eicarAttachment });
    assert.match(tail.response, /^250 /);
    const [queued] = await prefix.relay.relay.store.listQueue();
    const body = (await prefix.relay.relay.store.messageBody(queued?.id ?? '')) ?? Buffer.alloc(0);
    assert.match(body.toString(), /^X-Relais-Virus-Scan: partly scanned \(first 4096 bytes\)\r$/m);
    // A virus inside the scanned part is still found.
    const head = await submit(prefix.relay.port('smtps'), prefix.sender, { to: 'b@clean.test', subject: 'head', text: 'short', attachments: [...eicarAttachment, { filename: 'pad.txt', content: big }] });
    assert.equal(head.response, `554 5.7.1 Message refused: virus found (${EICAR_VIRUS_NAME})`);
  });
});

describe('antivirus with on_error: accept', () => {
  let w: DeliveryWorld;
  let deadPort: number;

  before(async () => {
    deadPort = await freePort('127.0.93.5');
    w = await startDeliveryWorld({
      systemClock: true,
      zones: { 'accept.test': { mx: [{ pref: 10, host: 'mx.accept.test' }] }, 'mx.accept.test': { a: ['127.0.93.11'] } },
      receivers: [{ address: '127.0.93.11', name: 'mx.accept.test' }],
      overrides: { antivirus: { clamd: `127.0.93.5:${deadPort}`, on_error: 'accept', timeout: '2s' } },
    });
  });
  after(() => w?.stop());

  test('clamd unreachable: 250, and the delivered message carries X-Relais-Virus-Scan: not scanned', async () => {
    const sent = await submit(w.relay.port('smtps'), w.sender, { to: 'reader@accept.test', subject: 'unscanned', text: 'Delivered anyway.' });
    assert.match(sent.response, /^250 2\.0\.0 Ok: queued as \w+/);
    const [got] = await w.receiver('127.0.93.11').waitFor(1, 15_000);
    const raw = got?.raw.toString() ?? '';
    assert.match(raw, /^X-Relais-Virus-Scan: not scanned\r$/m);
    assert.match(raw, /Delivered anyway\./);
    assert.ok(w.relay.log.find('virus_scan_failed').some((l) => l.action === 'accepted unscanned'));
  });
});
