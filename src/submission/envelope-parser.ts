import net from 'node:net';
import { REPLY, type Reply } from './replies.js';

/** MAIL FROM and RCPT TO arguments, with the ESMTP parameters Relais keeps (RFC 1870, 3461, 6152, 6531). */
export interface MailArgs {
  address: string;
  size: number | null;
  body: '7BIT' | '8BITMIME' | null;
  smtputf8: boolean;
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  /** Keywords of the parameters given (upper-case, in order): a session opened with HELO may have none. */
  parameters: string[];
}

export interface RcptArgs {
  address: string;
  domain: string;
  /** Comma-separated NOTIFY values as given (NEVER, or some of SUCCESS, FAILURE, DELAY). */
  notify: string | null;
  /** ORCPT as given: addr-type;xtext. */
  orcpt: string | null;
  /** Keywords of the parameters given (upper-case, in order): a session opened with HELO may have none. */
  parameters: string[];
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: Reply };

const fail = <T>(reply: Reply): Parsed<T> => ({ ok: false, reply });

/**
 * Splits `FROM:<a@b> KEY=VALUE ...` (the verb already removed) into the path and parameters. A scanner, not a
 * regular expression, because a quoted local part may hold `>`, spaces and quoted pairs (RFC 5321 4.1.2).
 * Only ASCII blanks separate things: the line is latin1, and a UTF-8 byte such as 0xA0 or 0x85 is not a space.
 */
function splitPath(rest: string, keyword: 'FROM' | 'TO'): { path: string; params: string[] } | undefined {
  const text = rest.replace(/^[ \t]+|[ \t]+$/g, '');
  const prefix = `${keyword}:`;
  if (text.slice(0, prefix.length).toUpperCase() !== prefix) return undefined;
  let i = prefix.length;
  // "MAIL FROM: <a@b>" breaks RFC 5321 but is common enough among applications to accept.
  while (text[i] === ' ' || text[i] === '\t') i++;
  let path: string;
  if (text[i] === '<') {
    const end = scanPath(text, i + 1, true);
    if (end < 0) return undefined;
    path = text.slice(i + 1, end);
    i = end + 1;
  } else {
    const end = scanPath(text, i, false);
    if (end <= i) return undefined;
    path = text.slice(i, end);
    i = end;
  }
  const params = text.slice(i).split(/[ \t]+/).filter(Boolean);
  return { path, params };
}

/**
 * Where the path ends: the index of the closing `>` (bracketed) or of the first blank (bare), skipping quoted
 * strings and quoted pairs; -1 when it never ends properly.
 */
function scanPath(text: string, from: number, bracketed: boolean): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (bracketed && c === '>') return i;
    else if (!bracketed && (c === ' ' || c === '\t')) return i;
    else if (!bracketed && (c === '<' || c === '>')) return -1;
  }
  return bracketed || quoted ? -1 : text.length;
}

/** The colon ending a source route, outside any address literal (`@[IPv6:...]` has colons of its own). */
function routeEnd(path: string): number {
  let inLiteral = false;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '[') inLiteral = true;
    else if (c === ']') inLiteral = false;
    else if (c === ':' && !inLiteral) return i;
  }
  return -1;
}

const DOMAIN_NAME = /^[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,62})(\.[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,62}))*$/;
const XTEXT = /^([\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/;
/** C0 controls and DEL: never in qtextSMTP, atext or a domain, and dangerous in logs, headers and terminals. */
const CONTROL = /[\x00-\x1f\x7f]/;
/** C1 controls, which a UTF-8 address could carry (U+009B is a terminal's CSI). */
const C1_CONTROL = /[\u0080-\u009f]/;
const ATEXT_SPECIALS = "!#$%&'*+-/=?^_`{|}~";

/** The address as UTF-8, or undefined when its bytes are not valid UTF-8 (RFC 6531 requires it). */
function decodeUtf8(latin1: string): string | undefined {
  const bytes = Buffer.from(latin1, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

function isAtext(code: number, utf8: boolean): boolean {
  if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39)) return true;
  if (code >= 0x80) return utf8;
  return ATEXT_SPECIALS.includes(String.fromCharCode(code));
}

/** qtextSMTP (RFC 5321 4.1.2), widened to UTF8-non-ascii under SMTPUTF8 (RFC 6531 3.3). */
function isQtext(code: number, utf8: boolean): boolean {
  if (code >= 0x80) return utf8;
  return code === 32 || code === 33 || (code >= 35 && code <= 91) || (code >= 93 && code <= 126);
}

type MailboxCheck = { ok: true; domain: string } | { ok: false; why: 'syntax' | 'literal' };

/**
 * Mailbox = Local-part "@" ( Domain / address-literal ), RFC 5321 4.1.2 and 4.1.3. Returns the lower-cased
 * domain; an address literal keeps its brackets, e.g. `[ipv6:2001:db8::1]`.
 */
function checkMailbox(address: string, utf8: boolean): MailboxCheck {
  const syntax: MailboxCheck = { ok: false, why: 'syntax' };
  if (address.length > 320) return syntax;
  let i = 0;
  if (address[0] === '"') {
    for (i = 1; ; i++) {
      if (i >= address.length) return syntax;
      const code = address.charCodeAt(i);
      if (code === 0x22) break;
      if (code === 0x5c) {
        const next = address.charCodeAt(++i);
        if (!(next >= 32 && next <= 126)) return syntax;
      } else if (!isQtext(code, utf8)) {
        return syntax;
      }
    }
    i++;
  } else {
    let atom = 0;
    for (; i < address.length && address[i] !== '@'; i++) {
      const code = address.charCodeAt(i);
      if (code === 0x2e) {
        if (atom === 0) return syntax;
        atom = 0;
      } else if (isAtext(code, utf8)) {
        atom++;
      } else {
        return syntax;
      }
    }
    if (atom === 0) return syntax;
  }
  if (address[i] !== '@') return syntax;
  const domain = address.slice(i + 1).replace(/\.$/, '');
  if (domain.startsWith('[')) {
    if (!domain.endsWith(']')) return syntax;
    const literal = domain.slice(1, -1);
    const tagged = /^ipv6:/i.test(literal);
    // isIPv6 also takes a zone ("fe80::1%eth0"), which means nothing outside the host that wrote it.
    const valid = tagged ? net.isIPv6(literal.slice(5)) && !literal.includes('%') : net.isIPv4(literal);
    return valid ? { ok: true, domain: domain.toLowerCase() } : { ok: false, why: 'literal' };
  }
  return DOMAIN_NAME.test(domain) ? { ok: true, domain: domain.toLowerCase() } : syntax;
}

/** The decoded address and its domain, or the reply refusing it. */
function checkPath(path: string, smtputf8: boolean, bad: Reply): Parsed<{ address: string; domain: string }> {
  if (CONTROL.test(path)) return fail(REPLY.controlInAddress);
  if (/[^\x00-\x7f]/.test(path) && !smtputf8) return fail(REPLY.needUtf8);
  const decoded = smtputf8 ? decodeUtf8(path) : path;
  if (decoded === undefined) return fail(bad);
  if (C1_CONTROL.test(decoded)) return fail(REPLY.controlInAddress);
  // A source route (<@a,@b:user@c>) is obsolete (RFC 5321 4.1.2): keep only the mailbox. Only after the checks
  // above, so a route cannot smuggle what the mailbox may not hold.
  const routeColon = decoded.startsWith('@') ? routeEnd(decoded) : -1;
  const address = routeColon > 0 ? decoded.slice(routeColon + 1) : decoded;
  const mailbox = checkMailbox(address, smtputf8);
  if (!mailbox.ok) return fail(mailbox.why === 'literal' && bad === REPLY.badRecipient ? REPLY.badAddressLiteral : bad);
  return { ok: true, value: { address, domain: mailbox.domain } };
}

export function parseMailFrom(rest: string, maxSize: number): Parsed<MailArgs> {
  const split = splitPath(rest, 'FROM');
  if (!split) return fail(REPLY.syntax('MAIL FROM:<address> [parameters]'));
  const value: MailArgs = { address: '', size: null, body: null, smtputf8: false, ret: null, envid: null, parameters: [] };
  for (const param of split.params) {
    const [key, arg] = splitParam(param);
    value.parameters.push(key);
    switch (key) {
      case 'SIZE':
        if (arg === undefined || !/^\d{1,15}$/.test(arg)) return fail(REPLY.badParameter('SIZE'));
        value.size = Number(arg);
        if (value.size > maxSize) return fail(REPLY.declaredTooBig(maxSize));
        break;
      case 'BODY':
        if (arg?.toUpperCase() === '7BIT' || arg?.toUpperCase() === '8BITMIME') value.body = arg.toUpperCase() as MailArgs['body'];
        else return fail(REPLY.unsupportedParameter(`BODY=${arg ?? ''}`));
        break;
      case 'SMTPUTF8':
        if (arg !== undefined) return fail(REPLY.badParameter('SMTPUTF8'));
        value.smtputf8 = true;
        break;
      case 'RET':
        if (arg?.toUpperCase() !== 'FULL' && arg?.toUpperCase() !== 'HDRS') return fail(REPLY.badParameter('RET'));
        value.ret = arg.toUpperCase() as MailArgs['ret'];
        break;
      case 'ENVID':
        if (arg === undefined || arg.length > 100 || !XTEXT.test(arg)) return fail(REPLY.badParameter('ENVID'));
        value.envid = arg;
        break;
      case 'AUTH':
        // RFC 4954 5: accepted and ignored, the session's own authentication is what counts.
        break;
      default:
        return fail(REPLY.unsupportedParameter(key));
    }
  }
  if (split.path !== '') {
    const checked = checkPath(split.path, value.smtputf8, REPLY.badSender);
    if (!checked.ok) return checked;
    value.address = checked.value.address;
  }
  return { ok: true, value };
}

export function parseRcptTo(rest: string, smtputf8: boolean): Parsed<RcptArgs> {
  const split = splitPath(rest, 'TO');
  if (!split) return fail(REPLY.syntax('RCPT TO:<address> [parameters]'));
  const checked = checkPath(split.path, smtputf8, REPLY.badRecipient);
  if (!checked.ok) return checked;
  const value: RcptArgs = { ...checked.value, notify: null, orcpt: null, parameters: [] };
  for (const param of split.params) {
    const [key, arg] = splitParam(param);
    value.parameters.push(key);
    switch (key) {
      case 'NOTIFY': {
        const values = (arg ?? '').toUpperCase().split(',');
        const known = values.every((v) => ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'].includes(v));
        if (!arg || !known || (values.includes('NEVER') && values.length > 1)) return fail(REPLY.badParameter('NOTIFY'));
        value.notify = values.join(',');
        break;
      }
      case 'ORCPT':
        if (!arg || !/^[A-Za-z0-9-]+;.+$/.test(arg) || CONTROL.test(arg) || arg.length > 500) return fail(REPLY.badParameter('ORCPT'));
        value.orcpt = arg;
        break;
      default:
        return fail(REPLY.unsupportedParameter(key));
    }
  }
  return { ok: true, value };
}

function splitParam(param: string): [string, string | undefined] {
  const eq = param.indexOf('=');
  return eq < 0 ? [param.toUpperCase(), undefined] : [param.slice(0, eq).toUpperCase(), param.slice(eq + 1)];
}
