import { REPLY, type Reply } from './replies.js';

/** MAIL FROM and RCPT TO arguments, with the ESMTP parameters Relais keeps (RFC 1870, 3461, 6152, 6531). */
export interface MailArgs {
  address: string;
  size: number | null;
  body: '7BIT' | '8BITMIME' | null;
  smtputf8: boolean;
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
}

export interface RcptArgs {
  address: string;
  domain: string;
  /** Comma-separated NOTIFY values as given (NEVER, or some of SUCCESS, FAILURE, DELAY). */
  notify: string | null;
  /** ORCPT as given: addr-type;xtext. */
  orcpt: string | null;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: Reply };

const fail = <T>(reply: Reply): Parsed<T> => ({ ok: false, reply });

/** Splits `FROM:<a@b> KEY=VALUE ...` (the verb already removed) into the path and parameters. */
function splitPath(rest: string, keyword: 'FROM' | 'TO'): { path: string; params: string[] } | undefined {
  const match = new RegExp(`^${keyword}:\\s*(<[^>]*>|[^\\s<>]+)(.*)$`, 'i').exec(rest.trim());
  if (!match) return undefined;
  let path = match[1] as string;
  if (path.startsWith('<')) path = path.slice(1, -1);
  // A source route (<@a,@b:user@c>) is obsolete (RFC 5321 4.1.2): keep only the mailbox.
  if (path.startsWith('@')) path = path.slice(path.indexOf(':') + 1);
  const params = (match[2] as string).trim().split(/\s+/).filter(Boolean);
  return { path, params };
}

const MAILBOX = /^[^\s@<>(),;:\\"[\]]+(\.[^\s@<>(),;:\\"[\]]+)*@([^\s@<>()]+)$|^"[^"\r\n]*"@([^\s@<>()]+)$/;
const DOMAIN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,62})(\.[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,62}))*)$/;
const XTEXT = /^([\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/;

function decodeUtf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 1) return undefined;
  const domain = address.slice(at + 1).replace(/\.$/, '');
  return DOMAIN.test(domain) ? domain.toLowerCase() : undefined;
}

export function parseMailFrom(rest: string, maxSize: number): Parsed<MailArgs> {
  const split = splitPath(rest, 'FROM');
  if (!split) return fail(REPLY.syntax('MAIL FROM:<address> [parameters]'));
  const value: MailArgs = { address: '', size: null, body: null, smtputf8: false, ret: null, envid: null };
  for (const param of split.params) {
    const [key, arg] = splitParam(param);
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
    const address = value.smtputf8 ? decodeUtf8(split.path) : split.path;
    if (/[^\x00-\x7f]/.test(split.path) && !value.smtputf8) return fail(REPLY.needUtf8);
    if (!MAILBOX.test(address) || !domainOf(address) || address.length > 320) return fail(REPLY.badSender);
    value.address = address;
  }
  return { ok: true, value };
}

export function parseRcptTo(rest: string, smtputf8: boolean): Parsed<RcptArgs> {
  const split = splitPath(rest, 'TO');
  if (!split) return fail(REPLY.syntax('RCPT TO:<address> [parameters]'));
  if (/[^\x00-\x7f]/.test(split.path) && !smtputf8) return fail(REPLY.needUtf8);
  const address = smtputf8 ? decodeUtf8(split.path) : split.path;
  const domain = domainOf(address);
  if (!MAILBOX.test(address) || !domain || address.length > 320) return fail(REPLY.badRecipient);
  const value: RcptArgs = { address, domain, notify: null, orcpt: null };
  for (const param of split.params) {
    const [key, arg] = splitParam(param);
    switch (key) {
      case 'NOTIFY': {
        const values = (arg ?? '').toUpperCase().split(',');
        const known = values.every((v) => ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'].includes(v));
        if (!arg || !known || (values.includes('NEVER') && values.length > 1)) return fail(REPLY.badParameter('NOTIFY'));
        value.notify = values.join(',');
        break;
      }
      case 'ORCPT':
        if (!arg || !/^[A-Za-z0-9-]+;.+$/.test(arg) || arg.length > 500) return fail(REPLY.badParameter('ORCPT'));
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
