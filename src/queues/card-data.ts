/**
 * Finds what looks like a payment card number (PAN): 13 to 19 digits, possibly
 * written in groups separated by single spaces or dashes, passing the Luhn
 * check. The service only ever handles gateway tokens, so a message carrying
 * a PAN is refused and the number is masked before the message is kept.
 *
 * A run of digit groups is tried at every group boundary (a card number
 * followed by a CVV, "4111 1111 1111 1111 123", is still found); digits glued
 * to more digits are not split, so long numeric ids are not flagged.
 *
 * Random identifiers are blanked out first, or real events would be refused:
 * - UUIDs: their all-digit groups would pass Luhn about one time in ten;
 * - W3C traceparent values (`00-<trace id>-<span id>-01`), whole, so a span id
 *   that happens to be all digits is not read as a number;
 * - hex words of 16 or more characters with at least one letter a-f, standing
 *   alone (trace and span ids, hashes). Scanned as they were, about one random
 *   traceparent in 240 held a Luhn-valid run of 13-19 digits (400,000 tried).
 * A number glued to hex letters ("ab4111111111111111") is therefore not found;
 * glued to other letters ("visa4111111111111111") or set apart, it is.
 */

const MIN_DIGITS = 13;
const MAX_DIGITS = 19;
const KEPT_DIGITS = 4;
const DIGIT_RUN = /\d+(?:[ -]\d+)*/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TRACEPARENT = /(?<![0-9A-Za-z])[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?![0-9A-Za-z])/gi;
/** A whole run of 16+ hex characters, not glued to other letters or digits, holding at least one letter. */
const HEX_ID = /(?<![0-9A-Za-z])(?=[0-9A-Fa-f]{16,}(?![0-9A-Za-z]))[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*/g;
const blank = (id: string) => 'u'.repeat(id.length);

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

interface Group {
  start: number;
  end: number;
}

/** [start, end) spans of `text` holding a card number, in order. */
export function findCardNumbers(text: string): Group[] {
  // Same length, so the spans found in `scanned` are spans of `text`.
  const scanned = text.replace(UUID, blank).replace(TRACEPARENT, blank).replace(HEX_ID, blank);
  const found: Group[] = [];
  for (const run of scanned.matchAll(DIGIT_RUN)) {
    const groups = [...run[0].matchAll(/\d+/g)].map((g) => ({
      start: run.index + g.index,
      end: run.index + g.index + g[0].length,
    }));
    found.push(...cardWindows(text, groups));
  }
  return found;
}

/** Every stretch of whole groups holding 13-19 digits that passes Luhn. */
function cardWindows(text: string, groups: Group[]): Group[] {
  const windows: Group[] = [];
  for (let first = 0; first < groups.length; first++) {
    let digits = '';
    for (let last = first; last < groups.length; last++) {
      const g = groups[last]!;
      digits += text.slice(g.start, g.end);
      if (digits.length > MAX_DIGITS) break;
      if (digits.length >= MIN_DIGITS && passesLuhn(digits)) {
        windows.push({ start: groups[first]!.start, end: g.end });
      }
    }
  }
  return windows;
}

export function containsCardNumber(text: string): boolean {
  return findCardNumbers(text).length > 0;
}

/** Replaces every digit of each card number but its last four with `*`; separators stay. */
export function maskCardNumbers(text: string): string {
  const spans = findCardNumbers(text);
  if (spans.length === 0) return text;
  // UTF-16 code units, as the spans count them (digits are single units).
  const out = text.split('');
  for (const span of spans) {
    let kept = 0;
    for (let i = span.end - 1; i >= span.start; i--) {
      if (!isDigit(text, i)) continue;
      if (kept < KEPT_DIGITS) kept++;
      else out[i] = '*';
    }
  }
  return out.join('');
}

function isDigit(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
}

/** True when any string (key or value) inside a parsed JSON value holds a card number. */
export function containsCardNumberDeep(value: unknown): boolean {
  if (typeof value === 'string') return containsCardNumber(value);
  if (Array.isArray(value)) return value.some(containsCardNumberDeep);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => containsCardNumber(k) || containsCardNumberDeep(v));
  }
  return false;
}

function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskCardNumbers(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [maskCardNumbers(k), maskDeep(v)]));
  }
  return value;
}

/**
 * A message body with every card number masked, every other byte kept.
 * Works on the bytes as latin1 so a body that is not UTF-8 survives intact
 * (digits are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
 * character). A number only visible once JSON escapes are decoded ("\u0034…")
 * makes the body re-serialised from its parsed, masked form.
 */
export function maskCardDataInBody(body: Buffer): Buffer {
  const masked = Buffer.from(maskCardNumbers(body.toString('latin1')), 'latin1');
  const parsed = parseJson(masked);
  if (parsed.ok && containsCardNumberDeep(parsed.value)) return Buffer.from(JSON.stringify(maskDeep(parsed.value)));
  return masked;
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) };
  } catch {
    return { ok: false };
  }
}
