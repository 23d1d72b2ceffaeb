/**
 * Text that came from outside (a receiving server's reply, a client's address, anything read back from the store)
 * must never reach an operator's terminal, a log line or a notice with characters that act instead of showing:
 * ESC and CSI/OSC sequences rewrite the screen or the window title, CR overprints a line, line breaks forge
 * fields in a notice, bidi controls reorder what is read. Every face of Relais goes through these functions.
 */

/**
 * C0 controls, DEL, C1 controls (a terminal takes 0x9b as CSI and 0x9d as OSC), the Unicode line and paragraph
 * separators, and the invisible bidi controls of "Trojan Source".
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw among UNSAFE (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const SHORT: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function visibleEscape(ch: string): string {
  const short = SHORT[ch];
  if (short) return short;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** For people: every unsafe character becomes a visible escape (`\x1b`, `\r`, `\u202e`); the rest is untouched. */
export function escapeForDisplay(text: string): string {
  return text.replace(UNSAFE, visibleEscape);
}

/**
 * For JSON documents (CLI --json, log lines): escapes the unsafe characters JSON.stringify leaves raw as JSON
 * `\uXXXX` escapes, so a parser reads back exactly the same value while no raw byte reaches a terminal. Takes
 * serialised JSON: these characters can only occur inside its strings.
 */
export function escapeJsonText(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Longest remote text kept: real replies are a few hundred characters; a hostile server may send a megabyte. */
export const MAX_REMOTE_TEXT = 1000;

/**
 * Remote text as Relais keeps it: one line (line breaks of any kind, bare CR included, and tabs become one
 * space), every other unsafe character a visible escape, at most `max` characters (a cut one ends with "...").
 * Applied where the text enters (the SMTP client) and again where it is written into a notice, so text stored
 * before this rule is safe too.
 */
export function safeLine(text: string, max = MAX_REMOTE_TEXT): string {
  const line = escapeForDisplay(text.replace(/[\r\n\t]+/g, ' ')).trim();
  if (line.length <= max) return line;
  let cut = line.slice(0, max - 3);
  // Never leave half of a surrogate pair, which would be an invalid character in UTF-8 output.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}...`;
}
