import { foldText, type Folded } from './card-digits.js';

/**
 * Finds what looks like a payment card number (PAN): 13 to 19 digits passing
 * the Luhn check, however they are written. The service only ever handles
 * gateway tokens, so a message carrying a PAN is refused and the number is
 * masked before the message is kept.
 *
 * The text is normalised first (card-digits.ts): every Unicode decimal digit
 * and compatibility form (fullwidth, Arabic-Indic, superscript…) becomes its
 * ASCII digit. Then any run of characters that are neither letters nor
 * digits (spaces, no-break spaces, dots, underscores, dashes, quotes, commas,
 * JSON punctuation…) separates digit groups, and a run of groups is tried at
 * every group boundary, so "4111.1111_1111  1111", a number followed by a CVV
 * and the digits of a JSON number in exponent form (4.111111111111111e15) are
 * all found. Digits glued to letters are scanned too ("ab4111111111111111").
 * Digits glued to more digits are not split, so long numeric ids are not flagged.
 *
 * Only known identifier formats are left out of the scan (an allow-list;
 * their digits would otherwise pass Luhn often enough to refuse real events):
 * - UUIDs in their canonical 8-4-4-4-12 form (an all-digit run passes Luhn
 *   about one time in ten);
 * - W3C traceparent values (`00-<32 hex>-<16 hex>-<2 hex>`), whole;
 * - RFC 3339 timestamps with valid fields and at most 9 fraction digits
 *   ("2026-11-26T10:00:00.123+01:00" holds 13 digits past the T).
 * Each must stand alone (not glued to letters or digits). Nothing else is
 * blanked: Stripe-style ids (`cus_…`, `pm_…`) are base62 and practically
 * never hold 13 digits in a row, so they are scanned like any other text.
 */

const MIN_DIGITS = 13;
const MAX_DIGITS = 19;
const KEPT_DIGITS = 4;
const NOT_GLUED_BEFORE = '(?<![0-9A-Za-z])';
const NOT_GLUED_AFTER = '(?![0-9A-Za-z])';
/** A UUID or a W3C traceparent, in one pass. */
const ALLOWED_ID = new RegExp(
  `${NOT_GLUED_BEFORE}(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})${NOT_GLUED_AFTER}`,
  'gi',
);
const TIMESTAMP = new RegExp(
  `${NOT_GLUED_BEFORE}\\d{4}-(\\d{2})-(\\d{2})[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.\\d{1,9})?)?(?:[Zz]|[+-](\\d{2}):?\\d{2})?${NOT_GLUED_AFTER}`,
  'g',
);

/** The Luhn (mod 10) check digit test. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Told each card number found: its digits are `positions[first..end)` (indices in the folded text); true stops the scan. */
type OnCard = (positions: number[], first: number, end: number) => boolean | void;

/** JSON escapes, as in a raw body or a log line: `\n` separates like a newline, `\u0034` is a 4. */
const JSON_ESCAPE = /\\(?:[bfnrt"\\/]|u([0-9a-fA-F]{4}))/g;

function decodedEscape(escape: string, hex: string | undefined): string {
  if (hex === undefined) return ' '.repeat(escape.length);
  const folded = foldText(String.fromCharCode(parseInt(hex, 16))).text;
  // Same length: the digit (if any) stands on the escape's last character, which masking replaces.
  return /^\d$/.test(folded) ? `     ${folded}` : /^[A-Za-z]$/.test(folded) ? 'uuuuuu' : '      ';
}

/** The folded text with JSON escapes decoded and every allow-listed identifier replaced by letters (same length). */
function withoutKnownIds(folded: string): string {
  let out = folded.includes('\\') ? folded.replace(JSON_ESCAPE, decodedEscape) : folded;
  if (out.includes('-')) out = out.replace(ALLOWED_ID, (m) => 'u'.repeat(m.length));
  if (!out.includes(':')) return out;
  return out.replace(TIMESTAMP, (m, mo: string, d: string, h: string, mi: string, s?: string, oh?: string) =>
    validTimestamp(+mo, +d, +h, +mi, s === undefined ? 0 : +s, oh === undefined ? 0 : +oh) ? 'u'.repeat(m.length) : m,
  );
}

function validTimestamp(month: number, day: number, hour: number, minute: number, second: number, offsetHour: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60 && offsetHour <= 23;
}

const isDigitCode = (c: number) => c >= 48 && c <= 57;
const isLetterCode = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * Every window of whole digit groups holding 13-19 digits that passes Luhn.
 * One linear pass (no regular expression over the runs, no recursion): a
 * body of 64 KiB of single digits costs a few milliseconds and no stack.
 */
function scanFolded(scanned: string, onCard: OnCard): void {
  // The digit positions of the current run, and where each group starts among them.
  let positions: number[] = [];
  let groupStarts: number[] = [];
  let inGroup = false;
  let stopped = false;
  const flush = () => {
    if (positions.length >= MIN_DIGITS) stopped = windowsOf(scanned, positions, groupStarts, onCard);
    positions = [];
    groupStarts = [];
  };
  for (let i = 0; i < scanned.length && !stopped; i++) {
    const c = scanned.charCodeAt(i);
    if (isDigitCode(c)) {
      if (!inGroup) groupStarts.push(positions.length);
      positions.push(i);
      inGroup = true;
    } else {
      inGroup = false;
      // A letter ends the run; anything else only separates its groups.
      if (isLetterCode(c)) flush();
    }
  }
  if (!stopped) flush();
}

/**
 * The Luhn sum of a window counts each digit plain or doubled by its distance
 * from the window's last digit: two prefix sums (plain at even indices and
 * doubled at odd ones, and the reverse) give any window's sum at once, so a
 * run of n digits costs O(n) whatever its grouping.
 */
function windowsOf(text: string, positions: number[], groupStarts: number[], onCard: OnCard): boolean {
  const evenPlain = new Int32Array(positions.length + 1);
  const oddPlain = new Int32Array(positions.length + 1);
  for (let j = 0; j < positions.length; j++) {
    const d = text.charCodeAt(positions[j]!) - 48;
    const doubled = d * 2 > 9 ? d * 2 - 9 : d * 2;
    evenPlain[j + 1] = evenPlain[j]! + (j % 2 === 0 ? d : doubled);
    oddPlain[j + 1] = oddPlain[j]! + (j % 2 === 1 ? d : doubled);
  }
  for (let g = 0; g < groupStarts.length; g++) {
    const first = groupStarts[g]!;
    for (let h = g + 1; h <= groupStarts.length; h++) {
      const end = h < groupStarts.length ? groupStarts[h]! : positions.length;
      const count = end - first;
      if (count > MAX_DIGITS) break;
      if (count < MIN_DIGITS) continue;
      // The last digit (index end - 1) is counted plain, and so is every digit of the same parity.
      const sums = (end - 1) % 2 === 0 ? evenPlain : oddPlain;
      if ((sums[end]! - sums[first]!) % 10 === 0 && onCard(positions, first, end)) return true;
    }
  }
  return false;
}

/**
 * Most texts (ids, amounts, names) cannot hold 13 digits, and counting ASCII
 * digits is far cheaper than the scan. Any other character is scanned: one
 * can fold to several digits ("⅒" is "1⁄10").
 */
function tooFewDigits(text: string): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) return false;
    if (isDigitCode(c) && ++digits >= MIN_DIGITS) return false;
  }
  return true;
}

function scan(text: string, onCard: OnCard): Folded {
  const folded = foldText(text);
  scanFolded(withoutKnownIds(folded.text), onCard);
  return folded;
}

/** [start, end) spans of `text` (UTF-16 units) holding a card number. */
export function findCardNumbers(text: string): Array<{ start: number; end: number }> {
  const found: Array<[number, number]> = [];
  const folded = scan(text, (positions, first, end) => void found.push([positions[first]!, positions[end - 1]!]));
  return found.map(([a, b]) => ({ start: folded.origin(a)[0], end: folded.origin(b)[1] }));
}

export function containsCardNumber(text: string): boolean {
  if (tooFewDigits(text)) return false;
  let found = false;
  scan(text, () => (found = true));
  return found;
}

/**
 * Replaces each character giving a digit of a card number, but those giving
 * its last four, with `*` (one `*` per character, whatever its digit form);
 * separators and everything else stay.
 */
export function maskCardNumbers(text: string): string {
  if (tooFewDigits(text)) return text;
  const folded = foldText(text);
  let marked: Uint8Array | undefined;
  scanFolded(withoutKnownIds(folded.text), (positions, first, end) => {
    marked ??= new Uint8Array(folded.text.length);
    for (let j = first; j < end - KEPT_DIGITS; j++) marked[positions[j]!] = 1;
  });
  return marked ? replaceMarked(text, folded, marked) : text;
}

/** Every character giving a digit, in any form, replaced by `*`: the last resort of masking. */
export function maskAllDigits(text: string): string {
  const folded = foldText(text);
  const marked = new Uint8Array(folded.text.length);
  for (let i = 0; i < folded.text.length; i++) if (isDigitCode(folded.text.charCodeAt(i))) marked[i] = 1;
  return replaceMarked(text, folded, marked);
}

/** `text` with each original character behind a marked folded character replaced by one `*`. */
function replaceMarked(text: string, folded: Folded, marked: Uint8Array): string {
  const parts: string[] = [];
  let copied = 0;
  for (let i = 0; i < folded.text.length; i++) {
    if (!marked[i]) continue;
    const [start, end] = folded.origin(i);
    // Characters folding to several digits ("⑪") are masked if any of them is.
    if (start < copied) continue;
    parts.push(text.slice(copied, start), '*');
    copied = end;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}
