/**
 * What the ops pages show of data they did not write themselves (job data,
 * history details, gateway outcomes): secrets by key name are replaced, and
 * anything shaped like a card number is masked, at any depth. Job data is
 * only `{ orderId }` today; this keeps a future field from leaking.
 */

export const REDACTED = '[redacted]';

const SECRET_KEY = /pay(ment)?[-_]?method|token|secret|password|passwd|api[-_]?key|authori[sz]ation|cookie|card[-_]?(number|data)|^pan$|cvc|cvv/i;
const DIGIT_RUN = /\d(?:[ -]?\d){12,18}/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Masks every 13-19 digit run (spaces or dashes allowed) that passes the Luhn check. */
export function maskCardNumbers(text: string): string {
  return text.replace(DIGIT_RUN, (run) => {
    const digits = run.replace(/[ -]/g, '');
    return luhnValid(digits) ? '[card number removed]' : run;
  });
}

export function redactForDisplay(value: unknown, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  if (typeof value === 'string') return maskCardNumbers(value);
  if (Array.isArray(value)) return value.map((v) => redactForDisplay(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET_KEY.test(k) ? REDACTED : redactForDisplay(v, depth + 1),
      ]),
    );
  }
  return value;
}
