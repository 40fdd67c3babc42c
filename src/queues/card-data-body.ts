import { containsCardNumber, maskAllDigits, maskCardNumbers } from './card-data.js';
import { numberDigits, walkJson } from './json-walk.js';

/**
 * Card numbers in whole message bodies and parsed values: what the text scan
 * of card-data.ts cannot see alone, JSON escapes ("\u0034…") and JSON numbers.
 */

/**
 * True when any key, string or number inside a parsed value holds a card
 * number; 'too complex' when it is too deep or too big to walk (see json-walk.ts).
 * `numbers` only: its strings were already scanned as they were written.
 */
export function cardNumberIn(value: unknown, only: { numbers?: boolean } = {}): boolean | { tooComplex: string } {
  const walked = walkJson(value, (v) => (only.numbers && v.kind !== 'other' ? false : containsCardNumber(v.text)));
  if (walked === 'stopped') return true;
  return walked === 'done' ? false : walked;
}

export function containsCardNumberDeep(value: unknown): boolean {
  return cardNumberIn(value) !== false;
}

/**
 * A message body with every card number masked, in any digit form, and the
 * rest kept: UTF-8 is kept as UTF-8, a body that is not UTF-8 byte for byte
 * (as latin1). A number only visible once the JSON is parsed (escapes, a
 * number in exponent form) makes the body re-serialised from its parsed,
 * masked form; a body that still holds one after that (or that is too
 * deep to re-serialise) has every digit, in every form, masked.
 */
export function maskCardDataInBody(body: Buffer): Buffer {
  if (body.length > PRECISE_MASK_LIMIT) return maskEveryDigitInBody(body);
  const utf8 = decodeUtf8(body);
  const text = utf8 ?? body.toString('latin1');
  const parsed = parseJson(text);
  const inParsed = parsed.ok ? cardNumberIn(parsed.value) : false;
  // The text scan after re-serialising also sees a number spread over several fields.
  let masked = maskCardNumbers(inParsed === true && parsed.ok ? JSON.stringify(maskDeep(parsed.value)) : text);
  if (inParsed !== false) masked = stillHolding(masked);
  return Buffer.from(masked, utf8 === undefined ? 'latin1' : 'utf8');
}

/**
 * The precise scan costs up to a microsecond a character on a loaded machine:
 * a body of megabytes would hold the worker for seconds. Up to this size
 * (four times the 64 KiB a body may have) the copy is masked precisely and
 * otherwise kept byte for byte; past it every digit is masked, in one pass.
 */
export const PRECISE_MASK_LIMIT = 256 * 1024;
const ASTERISK = 0x2a;

/** Every digit masked; for plain ASCII one pass over the bytes (a few ms for megabytes). */
export function maskEveryDigitInBody(body: Buffer): Buffer {
  const out = Buffer.from(body);
  let ascii = true;
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if (b >= 0x30 && b <= 0x39) out[i] = ASTERISK;
    else if (b >= 0x80) ascii = false;
  }
  if (ascii) return out;
  const utf8 = decodeUtf8(out);
  return Buffer.from(maskAllDigits(utf8 ?? out.toString('latin1')), utf8 === undefined ? 'latin1' : 'utf8');
}

/** The last resort: a masked text that, parsed or not, still holds a number loses all its digits. */
function stillHolding(masked: string): string {
  const parsed = parseJson(masked);
  if (containsCardNumber(masked) || (parsed.ok && cardNumberIn(parsed.value) !== false)) return maskAllDigits(masked);
  return masked;
}

/** Only called on values walkJson accepted (at most MAX_DEPTH deep), so the recursion is bounded. */
function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskCardNumbers(value);
  if (typeof value === 'number') return cardNumberIn(value) === true ? maskCardNumbers(numberDigits(value)) : value;
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [maskCardNumbers(k), maskDeep(v)]));
  }
  return value;
}

export function decodeUtf8(body: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return undefined;
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
