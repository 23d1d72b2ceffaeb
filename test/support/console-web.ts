import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { TestRelay } from './relay-fixture.js';
import { runCli } from './relay-process.js';

/** The console as a browser without script talks to it: fetch, cookies carried by hand, forms as urlencoded posts. */

/** A config file for `relais` commands run beside a test relay: the same store. */
export function cliConfigFor(relay: TestRelay): string {
  const file = path.join(relay.dir, 'relais-cli.yaml');
  fs.writeFileSync(file, YAML.stringify({ hostname: 'relay.test', data_dir: relay.dir, store: { url: relay.config.store.url } }));
  return file;
}

/** `relais login add ... --json` through the CLI; returns the generated password. */
export async function addLogin(configFile: string, args: string[]): Promise<{ email: string; password: string }> {
  const out = await runCli(['login', 'add', ...args, '--json', '--config', configFile]);
  if (out.code !== 0) throw new Error(`relais login add failed (${out.code}): ${out.stderr}`);
  const parsed = JSON.parse(out.stdout) as { email: string; password: string };
  return { email: parsed.email, password: parsed.password };
}

/** The value of a Set-Cookie header for a cookie name, whole (with its attributes). */
export function setCookieOf(response: Response, name: string): string | undefined {
  return response.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
}

export const cookieValue = (setCookie: string | undefined): string => (setCookie ?? '').split(';')[0]?.split('=').slice(1).join('=') ?? '';

/** The hidden `_csrf` field of the first form on a page. */
export function csrfField(page: string): string {
  const match = /name="_csrf" value="([^"]*)"/.exec(page);
  if (!match) throw new Error('no _csrf field on the page');
  return match[1] as string;
}

export function form(fields: Record<string, string>): { method: 'POST'; headers: Record<string, string>; body: string; redirect: 'manual' } {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), redirect: 'manual' };
}

/** GET /login, then POST it with the form's token; the response of the POST and the session cookie it set. */
export async function postLogin(base: string, email: string, password: string): Promise<{ response: Response; session: string }> {
  const page = await fetch(`${base}/login`, { redirect: 'manual' });
  const loginCookie = cookieValue(setCookieOf(page, 'relais_login'));
  const token = csrfField(await page.text());
  const response = await fetch(`${base}/login`, {
    ...form({ _csrf: token, email, password, next: '/' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relais_login=${loginCookie}` },
  });
  return { response, session: cookieValue(setCookieOf(response, 'relais_session')) };
}

/** A signed-in session: its cookie header and CSRF token (read from the home page's sign-out form). */
export async function signIn(base: string, email: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const { response, session } = await postLogin(base, email, password);
  if (response.status !== 303 || !session) throw new Error(`sign-in of ${email} failed: ${response.status}`);
  const cookie = `relais_session=${session}`;
  const home = await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' });
  return { cookie, csrf: csrfField(await home.text()) };
}
