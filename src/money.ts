import currencyCodes from 'currency-codes';

/**
 * Money is an integer count of the currency's minor units (bigint) inside the
 * program and a decimal string on the wire. Never a binary float.
 * The exponent of each currency comes from ISO 4217 (currency-codes' data).
 */

/** The contract's upper bound: at most 99,999,999 minor units. */
export const MAX_MINOR_UNITS = 99_999_999n;

export class MoneyError extends Error {
  constructor(
    readonly field: 'amount' | 'currency',
    message: string,
  ) {
    super(message);
    this.name = 'MoneyError';
  }
}

/**
 * ISO 4217 codes that are not money one can pay with (precious metals, bond
 * units, the test and "no currency" codes): ISO gives them no minor unit,
 * although currency-codes' data says 0.
 */
const NO_MINOR_UNIT = new Set(['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX']);

/** Minor-unit digits of an ISO 4217 currency, or undefined when the code is unknown or not payable. */
export function currencyExponent(currency: string): number | undefined {
  if (!/^[A-Z]{3}$/.test(currency) || NO_MINOR_UNIT.has(currency)) return undefined;
  const entry = currencyCodes.code(currency);
  if (!entry || typeof entry.digits !== 'number') return undefined;
  return entry.digits;
}

/** Parses `"49.99"` USD into 4999n; refuses anything not written with exactly the currency's digits. */
export function parseAmount(amount: unknown, currency: unknown): bigint {
  if (typeof currency !== 'string') throw new MoneyError('currency', 'currency must be an ISO 4217 code such as "USD"');
  const exponent = currencyExponent(currency);
  if (exponent === undefined) throw new MoneyError('currency', `currency "${currency}" is not an ISO 4217 code`);
  if (typeof amount !== 'string') {
    throw new MoneyError('amount', 'amount must be a decimal string such as "49.99", not a number');
  }
  // No leading zeros: "0049.99" is not how anyone writes 49.99, and a duplicate must compare equal as written.
  const whole = '(0|[1-9]\\d*)';
  const pattern = exponent === 0 ? new RegExp(`^${whole}$`) : new RegExp(`^${whole}\\.(\\d{${exponent}})$`);
  const match = pattern.exec(amount);
  if (!match) {
    const example = exponent === 0 ? '"5000"' : `"12.${'5'.repeat(exponent)}"`;
    throw new MoneyError(
      'amount',
      `amount "${amount.slice(0, 40)}" must have exactly ${exponent} decimal digit(s) for ${currency}, e.g. ${example}`,
    );
  }
  const minor = BigInt(match[1]! + (match[2] ?? ''));
  if (minor <= 0n) throw new MoneyError('amount', 'amount must be greater than zero');
  if (minor > MAX_MINOR_UNITS) {
    throw new MoneyError('amount', `amount exceeds the maximum of ${formatAmount(MAX_MINOR_UNITS, currency)} ${currency}`);
  }
  return minor;
}

/** Formats 4999n USD as `"49.99"`, 5000n JPY as `"5000"`, 1250n BHD as `"1.250"`. */
export function formatAmount(minor: bigint, currency: string): string {
  if (minor < 0n) throw new MoneyError('amount', 'amount must not be negative');
  const exponent = currencyExponent(currency);
  if (exponent === undefined) throw new MoneyError('currency', `currency "${currency}" is not an ISO 4217 code`);
  if (exponent === 0) return minor.toString();
  const digits = minor.toString().padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
