import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { RawSmtpClient } from '../support/smtp-clients.js';

/**
 * The PROXY protocol on the submission listeners, against a real relay and real sockets: the load balancer is
 * 127.0.111.2 (listen.proxy_from), a client outside it is 127.0.111.3; the relay listens on 127.0.111.1.
 * The address a balancer's header names is the one logged, written in Received, limited and guarded.
 */

const RELAY = '127.0.111.1';
const BALANCER = '127.0.111.2';
const STRANGER = '127.0.111.3';
const PROXY_TIMEOUT_MS = 1000;

function v1(client: string, port: number, clientPort = 40000): string {
  return `PROXY ${client.includes(':') ? 'TCP6' : 'TCP4'} ${client} ${client.includes(':') ? '::1' : RELAY} ${clientPort} ${port}\r\n`;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 PROXY header over TCP/IPv4 or IPv6 (by the client's address), with one TLV as balancers add; LOCAL without a client. */
function v2(client: string | null, port: number, clientPort = 40000): Buffer {
  if (client === null) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const six = client.includes(':');
  const address = six ? ipv6Bytes(client) : Buffer.from(client.split('.').map(Number));
  const destination = six ? ipv6Bytes('::1') : Buffer.from(RELAY.split('.').map(Number));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(clientPort, 0);
  ports.writeUInt16BE(port, 2);
  // PP2_TYPE_UNIQUE_ID (0x05), 4 bytes: skipped by the relay.
  const tlv = Buffer.from([0x05, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]);
  const payload = Buffer.concat([address, destination, ports, tlv]);
  const fixed = Buffer.from([0x21, six ? 0x21 : 0x11, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([V2_SIGNATURE, fixed, payload]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

async function waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const plain = (user: { username: string; password: string }) => `AUTH PLAIN ${Buffer.from(`\0${user.username}\0${user.password}`).toString('base64')}`;

/** After the greeting and EHLO: STARTTLS (unless already TLS), EHLO again, AUTH, one message; its queue id. */
async function authenticateAndSend(client: RawSmtpClient, user: { username: string; password: string }, tls: 'starttls' | 'implicit'): Promise<string> {
  if (tls === 'starttls') {
    await client.startTls();
    assert.match(await client.command('EHLO client.test'), /^250/);
  }
  assert.match(await client.command(plain(user)), /^235 /);
  assert.match(await client.command('MAIL FROM:<sender@customer.test>'), /^250 /);
  assert.match(await client.command('RCPT TO:<reader@example.test>'), /^250 /);
  assert.match(await client.command('DATA'), /^354 /);
  const queued = await client.command('From: sender@customer.test\r\nTo: reader@example.test\r\nSubject: through the balancer\r\n\r\nhello\r\n.');
  const id = /queued as (\w+)/.exec(queued)?.[1];
  assert.ok(id, queued);
  assert.match(await client.command('QUIT'), /^221 /);
  return id;
}

async function topReceived(t: TestRelay, id: string): Promise<string> {
  const body = ((await t.relay.store.messageBody(id)) as Buffer).toString('latin1');
  const match = /^Received: [^\r\n]*/m.exec(body);
  assert.ok(match, body.slice(0, 400));
  return match[0];
}

function sessionOf(t: TestRelay, ip: string) {
  return waitFor(() => t.log.find('session').find((line) => line.client_ip === ip), `session line for ${ip}`);
}

describe('PROXY protocol with listen.proxy_from: [127.0.111.2/32]', () => {
  let t: TestRelay;
  let user: { username: string; password: string };
  before(async () => {
    t = await startTestRelay({
      address: RELAY,
      overrides: {
        listen: { proxy_from: [`${BALANCER}/32`], proxy_timeout: `${PROXY_TIMEOUT_MS}ms` },
        // Small enough to reach in a test; the point is which address they count.
        submission: { max_connections_per_ip: 2 },
        auth: { max_failures_per_ip: 3 },
      },
    });
    user = await t.addSender(100);
  });
  after(() => t.stop());

  test('v1 on submission, header and EHLO in one segment: the claimed client is logged and in Received', async () => {
    const port = t.port('submission');
    const client = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: `${v1('203.0.113.7', port)}EHLO client.test\r\n` });
    assert.match(client.greeting, /^220 /);
    // The EHLO that came with the header was kept.
    assert.match(await client.reply(), /^250-relay\.test/);
    const id = await authenticateAndSend(client, user, 'starttls');
    assert.match(await topReceived(t, id), /^Received: from client\.test \(\[203\.0\.113\.7\]\)/);
    // The queue's record of the message (relais queue show: Client) names the same client.
    assert.equal((await t.relay.store.findMessage(id))?.clientIp, '203.0.113.7');
    const session = await sessionOf(t, '203.0.113.7');
    assert.equal(session.via, BALANCER);
    assert.equal(session.messages, 1);
    assert.deepEqual(
      t.log.find('accepted').filter((line) => line.message_id === id).map((line) => line.client_ip),
      ['203.0.113.7'],
    );
    assert.equal(t.log.find('auth').find((line) => line.client_ip === BALANCER), undefined);
  });

  test('header, pipelined commands and the end of the stream in one go: every command is answered', async () => {
    const port = t.port('submission');
    const { default: net } = await import('node:net');
    // The client's whole side at once, FIN included, before the greeting: as a balancer forwards a fast client.
    const transcript = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = net.connect({ host: RELAY, port, localAddress: BALANCER, allowHalfOpen: true }, () => {
        socket.end(`${v1('203.0.113.8', port)}EHLO client.test\r\nNOOP\r\nQUIT\r\n`);
      });
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    const codes = transcript.split('\r\n').filter((line) => /^\d{3} /.test(line)).map((line) => line.slice(0, 3));
    assert.deepEqual(codes, ['220', '250', '250', '221'], transcript);
    assert.equal((await sessionOf(t, '203.0.113.8')).via, BALANCER);
  });

  test('v2 on the smtp port, IPv4 and IPv6 clients', async () => {
    const port = t.port('smtp');
    for (const [claimed, received] of [['203.0.113.9', '203.0.113.9'], ['2001:db8::25', '2001:db8::25']] as const) {
      const client = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: v2(claimed, port) });
      assert.match(client.greeting, /^220 /);
      assert.match(await client.command('EHLO client.test'), /^250/);
      const id = await authenticateAndSend(client, user, 'starttls');
      assert.ok((await topReceived(t, id)).includes(`([${received}])`));
      assert.equal((await sessionOf(t, received)).via, BALANCER);
    }
  });

  test('smtps: the header comes before the TLS handshake, alone or in the same segment as the ClientHello', async () => {
    const port = t.port('smtps');
    const cases = [
      { claimed: '203.0.113.10', first: v1('203.0.113.10', port), firstWithTls: false },
      { claimed: '203.0.113.11', first: v2('203.0.113.11', port), firstWithTls: true },
      { claimed: '203.0.113.12', first: v1('203.0.113.12', port), firstWithTls: true },
    ];
    for (const { claimed, first, firstWithTls } of cases) {
      const client = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, implicitTls: true, first, firstWithTls });
      assert.match(client.greeting, /^220 /);
      assert.match(await client.command('EHLO client.test'), /^250/);
      const id = await authenticateAndSend(client, user, 'implicit');
      assert.ok((await topReceived(t, id)).includes(`([${claimed}])`), claimed);
      const session = await sessionOf(t, claimed);
      assert.match(String(session.tls), /^TLSv1\.[23]$/);
      assert.equal(session.via, BALANCER);
    }
  });

  test('the AUTH guard counts the claimed address: it gets blocked, another client of the same balancer still logs in', async () => {
    const port = t.port('submission');
    const attacker = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: v1('203.0.113.66', port) });
    await attacker.command('EHLO client.test');
    await attacker.startTls();
    await attacker.command('EHLO client.test');
    const wrong = plain({ username: user.username, password: 'not-the-password' });
    for (let i = 0; i < 3; i++) assert.match(await attacker.command(wrong), /^535 5\.7\.8 /);
    assert.match(await attacker.command(plain(user)), /^421 4\.7\.0 Too many failed authentication attempts from your address/);
    attacker.close();
    const blocked = await waitFor(() => t.log.find('auth_blocked').find((line) => line.client_ip === '203.0.113.66'), 'auth_blocked');
    assert.equal(blocked.scope, 'ip');
    assert.deepEqual(
      t.log.find('auth_failed').filter((line) => line.credential === user.username).map((line) => line.client_ip),
      ['203.0.113.66', '203.0.113.66', '203.0.113.66'],
    );

    // A new connection claiming the blocked address is still refused at AUTH; a different client is not.
    const again = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: v1('203.0.113.66', port) });
    await again.command('EHLO client.test');
    await again.startTls();
    await again.command('EHLO client.test');
    assert.match(await again.command(plain(user)), /^421 4\.7\.0 /);
    again.close();
    const other = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: v1('203.0.113.67', port) });
    await other.command('EHLO client.test');
    await other.startTls();
    await other.command('EHLO client.test');
    assert.match(await other.command(plain(user)), /^235 /);
    other.close();
  });

  test('the per-address connection limit counts the claimed address, not the balancer', async () => {
    const port = t.port('submission');
    const through = (client: string) => RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: v1(client, port) });
    const held = [await through('203.0.113.20'), await through('203.0.113.20')];
    for (const client of held) assert.match(client.greeting, /^220 /);
    const third = await through('203.0.113.20');
    assert.match(third.greeting, /^421 4\.7\.0 Too many connections from your address \(at most 2 at once\)/);
    // Two other clients through the same balancer: four connections from 127.0.111.2, none refused for it.
    const others = [await through('203.0.113.21'), await through('203.0.113.22')];
    for (const client of others) assert.match(client.greeting, /^220 /);
    const refused = await waitFor(() => t.log.find('connection_refused').find((line) => line.client_ip === '203.0.113.20'), 'connection_refused');
    assert.equal(refused.reason, 'per_ip');
    assert.equal(refused.via, BALANCER);
    for (const client of [...held, third, ...others]) client.close();
  });

  test('a health check of the balancer (v2 LOCAL, v1 UNKNOWN) is a session of the balancer itself', async () => {
    const port = t.port('submission');
    for (const first of [v2(null, port), 'PROXY UNKNOWN\r\n']) {
      const client = await RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first });
      assert.match(client.greeting, /^220 /);
      assert.match(await client.command('EHLO check.balancer'), /^250/);
      assert.match(await client.command('QUIT'), /^221 /);
    }
    await waitFor(() => (t.log.find('session').filter((line) => line.client_ip === BALANCER).length >= 2 ? true : undefined), 'two balancer sessions');
    assert.ok(t.log.find('session').filter((line) => line.client_ip === BALANCER).every((line) => line.via === undefined));
  });

  test('from the balancer, a missing, malformed, too long or late header closes the connection without a greeting', async () => {
    const port = t.port('submission');
    const refusedFor = (reason: string) =>
      waitFor(() => t.log.find('proxy_refused').find((line) => line.reason === reason && line.client_ip === BALANCER), `proxy_refused ${reason}`);

    // SMTP at once (a balancer that does not send the header): closed at once, nothing answered.
    let started = Date.now();
    await assert.rejects(RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: 'EHLO client.test\r\n' }), /connection closed; unread: ""/);
    assert.ok(Date.now() - started < PROXY_TIMEOUT_MS / 2, `took ${Date.now() - started} ms`);
    assert.match(String((await refusedFor('missing')).detail), /45 48 4c 4f 20 63 6c 69 \("EHLO cli"\) instead of a PROXY header/);

    // The same on smtps: the ClientHello is not a header.
    await assert.rejects(RawSmtpClient.connect(t.port('smtps'), { host: RELAY, localAddress: BALANCER, implicitTls: true }));
    await waitFor(() => t.log.find('proxy_refused').find((line) => line.reason === 'missing' && /started with 16 03/.test(String(line.detail))), 'ClientHello refused');

    await assert.rejects(RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: `PROXY TCP4 203.0.113.7 ${RELAY} 99999 ${port}\r\n` }), /connection closed/);
    assert.match(String((await refusedFor('malformed')).detail), /port "99999"/);

    await assert.rejects(RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: `PROXY UNKNOWN ${'x'.repeat(200)}` }), /connection closed/);
    assert.match(String((await refusedFor('too_long')).detail), /107 bytes/);

    // Nothing at all: closed after listen.proxy_timeout.
    started = Date.now();
    await assert.rejects(RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER }), /connection closed; unread: ""/);
    const waited = Date.now() - started;
    assert.ok(waited >= PROXY_TIMEOUT_MS - 50 && waited < PROXY_TIMEOUT_MS + 2000, `closed after ${waited} ms`);
    assert.match(String((await refusedFor('timeout')).detail), new RegExp(`within ${PROXY_TIMEOUT_MS} ms`));

    // Half a header, then nothing: the same deadline.
    await assert.rejects(RawSmtpClient.connect(port, { host: RELAY, localAddress: BALANCER, first: 'PROXY TCP4 203.0.' }), /connection closed/);
    await waitFor(() => (t.log.find('proxy_refused').filter((line) => line.reason === 'timeout').length >= 2 ? true : undefined), 'second timeout');
  });

  test('a PROXY header from outside listen.proxy_from is refused: 554 on the plain ports, closed before TLS on smtps', async () => {
    const before = t.log.find('proxy_refused').filter((line) => line.reason === 'untrusted').length;
    for (const kind of ['submission', 'smtp'] as const) {
      const port = t.port(kind);
      for (const first of [v1('203.0.113.7', port), v2('203.0.113.7', port)]) {
        const spoofer = await RawSmtpClient.connect(port, { host: RELAY, localAddress: STRANGER, first });
        assert.match(spoofer.greeting, /^220 /);
        assert.match(await spoofer.reply(), /^554 5\.7\.1 PROXY protocol header refused: your address is not a trusted load balancer$/);
        assert.ok(await spoofer.waitClosed());
      }
    }
    // Sent after the greeting, as a client that waits for it would: the same.
    const late = await RawSmtpClient.connect(t.port('submission'), { host: RELAY, localAddress: STRANGER });
    assert.match(await late.command(v1('203.0.113.7', t.port('submission')).trimEnd()), /^554 5\.7\.1 /);
    const smtps = t.port('smtps');
    await assert.rejects(RawSmtpClient.connect(smtps, { host: RELAY, localAddress: STRANGER, implicitTls: true, first: v1('203.0.113.7', smtps) }));
    await assert.rejects(RawSmtpClient.connect(smtps, { host: RELAY, localAddress: STRANGER, implicitTls: true, first: v2('203.0.113.7', smtps), firstWithTls: true }));

    await waitFor(() => (t.log.find('proxy_refused').filter((line) => line.reason === 'untrusted').length >= before + 7 ? true : undefined), '7 untrusted refusals');
    const refusals = t.log.find('proxy_refused').filter((line) => line.reason === 'untrusted');
    assert.ok(refusals.every((line) => line.client_ip === STRANGER));
    // The spoofed address appears nowhere as a client of these connections.
    assert.ok(!t.log.find('session').some((line) => line.client_ip === STRANGER && line.via !== undefined));
    const metrics = (await t.relay.metrics.exposition()).body;
    assert.match(metrics, new RegExp(`relais_submission_proxy_refused_total\\{reason="untrusted"\\} ${refusals.length}\\b`));
    for (const reason of ['missing', 'malformed', 'too_long', 'timeout']) {
      assert.match(metrics, new RegExp(`relais_submission_proxy_refused_total\\{reason="${reason}"\\} [1-9]`), reason);
    }
  });

  test('a client outside listen.proxy_from without a header is served as usual, on every port', async () => {
    for (const kind of ['submission', 'smtp'] as const) {
      const client = await RawSmtpClient.connect(t.port(kind), { host: RELAY, localAddress: STRANGER, first: 'EHLO direct.client\r\n' });
      assert.match(client.greeting, /^220 /);
      assert.match(await client.reply(), /^250-relay\.test/);
      const id = await authenticateAndSend(client, user, 'starttls');
      assert.ok((await topReceived(t, id)).includes(`([${STRANGER}])`));
    }
    const tls = await RawSmtpClient.connect(t.port('smtps'), { host: RELAY, localAddress: STRANGER, implicitTls: true });
    assert.match(tls.greeting, /^220 /);
    assert.match(await tls.command('EHLO direct.client'), /^250/);
    await authenticateAndSend(tls, user, 'implicit');
    assert.equal(t.log.find('proxy_refused').filter((line) => line.client_ip === STRANGER && line.reason !== 'untrusted').length, 0);
  });

  test("the balancer's plain TCP health check (connect, close) is no refusal", async () => {
    const before = t.log.find('proxy_refused').length;
    const port = t.port('submission');
    const { default: net } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: RELAY, port, localAddress: BALANCER }, () => socket.end());
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await waitFor(() => t.log.find('proxy_closed').find((line) => line.client_ip === BALANCER), 'proxy_closed');
    assert.equal(t.log.find('proxy_refused').length, before);
  });
});

describe('without listen.proxy_from (the default)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ address: '127.0.111.4' });
  });
  after(() => t.stop());

  test('"PROXY ..." is an unknown SMTP command, from any address, and the session goes on', async () => {
    const port = t.port('submission');
    for (const from of [BALANCER, STRANGER]) {
      const client = await RawSmtpClient.connect(port, { host: '127.0.111.4', localAddress: from, first: v1('203.0.113.7', port) });
      assert.match(client.greeting, /^220 /);
      assert.equal(await client.reply(), '500 5.5.2 Command not recognized');
      assert.match(await client.command('EHLO client.test'), /^250/);
      assert.match(await client.command('QUIT'), /^221 /);
      assert.equal((await sessionOf(t, from)).via, undefined);
    }
    assert.equal(t.log.find('proxy_refused').length, 0);
  });
});

describe('stopping while a balancer connection waits for its header (shipped listen.proxy_timeout)', () => {
  test('the relay stops at once and closes it; no session is started for it', async () => {
    const t = await startTestRelay({ address: '127.0.111.5', overrides: { listen: { proxy_from: [`${BALANCER}/32`] } } });
    assert.equal(t.config.listen.proxy_timeout, 5000);
    const { default: net } = await import('node:net');
    const socket = net.connect({ host: '127.0.111.5', port: t.port('submission'), localAddress: BALANCER });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('PROXY TCP4 203.0.');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await t.stop();
    await closed;
    assert.ok(Date.now() - started < 2000, `stop took ${Date.now() - started} ms`);
    assert.equal(t.log.find('session').length, 0);
  });
});
