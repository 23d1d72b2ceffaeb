import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.js';
import { runCli } from '../support/relay-process.js';
import { addLogin, cliConfigFor, cookieValue, csrfField, form, postLogin, setCookieOf, signIn } from '../support/console-web.js';

// Console sign-in over real HTTP, with logins made by the real `relais login` command against the relay's store.

describe('console logins', () => {
  let relay: TestRelay;
  let base: string;
  let configFile: string;

  before(async () => {
    relay = await startTestRelay({ overrides: { listen: { console: ['127.0.102.1:0'] } } });
    base = `http://127.0.102.1:${relay.port('console')}`;
    configFile = cliConfigFor(relay);
    await relay.relay.accounts.addCustomer('Login Co', 'ops@login.test');
  });
  after(() => relay.stop());
  // Past the first test, logins come from the service \`relais login add\` calls: the CLI's own output is tested once.
  const newLogin = async (email: string, customer: string) => {
    const { login, password } = await relay.relay.logins.add(email, customer);
    return { email: login.email, password };
  };

  test('relais login add prints a generated password once, and --json gives it too', async () => {
    const text = await runCli(['login', 'add', '--customer', 'Login Co', '--email', 'Text@Login.test', '--config', configFile]);
    assert.equal(text.code, 0, text.stderr);
    const password = /Password:\s+(\S+)/.exec(text.stdout)?.[1];
    assert.ok(password && password.length >= 16, text.stdout);
    assert.match(text.stdout, /shown only this once/);
    const json = await addLogin(configFile, ['--staff', '--email', 'staff@login.test']);
    assert.ok(json.password.length >= 16);
    assert.equal(json.email, 'staff@login.test');
    // Never again: the listing has no password, in either form.
    const list = await runCli(['login', 'list', '--json', '--config', configFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes(password) && !list.stdout.includes(json.password));
    assert.ok(!(await runCli(['login', 'list', '--config', configFile])).stdout.includes(password));
    // The printed password signs in (the e-mail is case-insensitive).
    const { response } = await postLogin(base, 'text@login.test', password);
    assert.equal(response.status, 303);
  });

  test('sign-in sets a session cookie that is HttpOnly, SameSite and Secure, and opens the console', async () => {
    const { email, password } = await newLogin('cookies@login.test', 'Login Co');
    const { response, session } = await postLogin(base, email, password);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/');
    const cookie = setCookieOf(response, 'relais_session') ?? '';
    assert.ok(session.length >= 40, cookie);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=(Lax|Strict)/);
    assert.match(cookie, /; Secure/);
    const home = await fetch(`${base}/`, { headers: { cookie: `relais_session=${session}` }, redirect: 'manual' });
    assert.equal(home.status, 200);
    assert.match(await home.text(), /Login Co/);
    // Without the cookie, the console sends to /login and back.
    const anonymous = await fetch(`${base}/messages`, { redirect: 'manual' });
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), '/login?next=%2Fmessages');
  });

  test('a wrong password is 401 and sets no session', async () => {
    const { email } = await newLogin('wrong@login.test', 'Login Co');
    const { response, session } = await postLogin(base, email, 'not-the-password');
    assert.equal(response.status, 401);
    assert.equal(session, '');
    assert.match(await response.text(), /Wrong e-mail address or password/);
    const unknown = await postLogin(base, 'nobody@login.test', 'whatever-password');
    assert.equal(unknown.response.status, 401);
  });

  test('logout ends the session in the store: the old cookie no longer opens anything', async () => {
    const { email, password } = await newLogin('logout@login.test', 'Login Co');
    const { cookie, csrf } = await signIn(base, email, password);
    const out = await fetch(`${base}/logout`, { ...form({ _csrf: csrf }), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), '/login');
    assert.match(setCookieOf(out, 'relais_session') ?? '', /Max-Age=0/);
    const after = await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(after.status, 303);
    assert.match(after.headers.get('location') ?? '', /^\/login/);
  });

  test('disabling a login ends its sessions at once', async () => {
    const { email, password } = await newLogin('disabled@login.test', 'Login Co');
    const { cookie } = await signIn(base, email, password);
    assert.equal((await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' })).status, 200);
    const disabled = await runCli(['login', 'disable', email, '--config', configFile]);
    assert.equal(disabled.code, 0, disabled.stderr);
    const after = await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(after.status, 303);
    assert.match(after.headers.get('location') ?? '', /^\/login/);
    // And it cannot sign in again.
    assert.equal((await postLogin(base, email, password)).response.status, 401);
  });

  test('forms without the session CSRF token are refused with 403, and do nothing', async () => {
    const { email, password } = await newLogin('csrf@login.test', 'Login Co');
    const { cookie, csrf } = await signIn(base, email, password);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    const missing = await fetch(`${base}/logout`, { ...form({}), headers });
    assert.equal(missing.status, 403);
    assert.match(await missing.text(), /security token/);
    const wrong = await fetch(`${base}/logout`, { ...form({ _csrf: `${csrf.slice(0, -2)}xx` }), headers });
    assert.equal(wrong.status, 403);
    // The session survived both.
    assert.equal((await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' })).status, 200);
  });

  test('login CSRF: a sign-in post without the token its form set is refused (403), even with the right password', async () => {
    const { email, password } = await newLogin('logincsrf@login.test', 'Login Co');
    // A cross-site form has neither the cookie nor the matching field.
    const bare = await fetch(`${base}/login`, form({ email, password }));
    assert.equal(bare.status, 403);
    assert.equal(setCookieOf(bare, 'relais_session'), undefined);
    // A token from one form does not pass with another browser's cookie.
    const page = await fetch(`${base}/login`);
    const token = csrfField(await page.text());
    const other = cookieValue(setCookieOf(await fetch(`${base}/login`), 'relais_login'));
    const mismatched = await fetch(`${base}/login`, {
      ...form({ _csrf: token, email, password }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relais_login=${other}` },
    });
    assert.equal(mismatched.status, 403);
    assert.equal(setCookieOf(mismatched, 'relais_session'), undefined);
  });
});

describe('console sign-in rate limiting (shipped limits: 5 failures per account, 10 per address)', () => {
  let relay: TestRelay;
  let base: string;

  before(async () => {
    relay = await startTestRelay({ overrides: { listen: { console: ['127.0.102.2:0'] } } });
    base = `http://127.0.102.2:${relay.port('console')}`;
    await relay.relay.accounts.addCustomer('Limit Co', 'ops@limit.test');
  });
  after(() => relay.stop());
  const newLogin = async (email: string, customer: string) => {
    const { login, password } = await relay.relay.logins.add(email, customer);
    return { email: login.email, password };
  };

  test('429 for an account after its failures, even with the right password, then 429 for the address', async () => {
    assert.equal(relay.config.console.max_login_failures_per_account, 5);
    assert.equal(relay.config.console.max_login_failures_per_ip, 10);
    const target = await newLogin('target@limit.test', 'Limit Co');
    const other = await newLogin('other@limit.test', 'Limit Co');
    for (let i = 0; i < 5; i++) assert.equal((await postLogin(base, target.email, `guess-${i}`)).response.status, 401);
    const locked = await postLogin(base, target.email, target.password);
    assert.equal(locked.response.status, 429);
    assert.ok(Number(locked.response.headers.get('retry-after')) > 0);
    assert.match(await locked.response.text(), /Too many failed sign-ins for this account/);
    assert.equal(locked.session, '');
    // Another account from the same address still signs in: the account's limit is its own.
    assert.equal((await postLogin(base, other.email, other.password)).response.status, 303);
    // Five more failures on other e-mails bring the address to 10: then every sign-in from it waits.
    for (let i = 0; i < 5; i++) assert.equal((await postLogin(base, `nobody${i}@limit.test`, 'guess')).response.status, 401);
    const blocked = await postLogin(base, other.email, other.password);
    assert.equal(blocked.response.status, 429);
    assert.match(await blocked.response.text(), /Too many failed sign-ins from your address/);
    assert.ok(relay.log.find('console_login').some((l) => l.outcome === 'blocked'));
  });
});
