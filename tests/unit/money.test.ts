import { describe, expect, it } from 'vitest';
import { currencyExponent, formatAmount, MAX_MINOR_UNITS, MoneyError, parseAmount } from '../../src/money.js';

/** Asserts that parsing fails with a MoneyError naming `field`, and returns it for further checks. */
function refusal(amount: unknown, currency: unknown, field: 'amount' | 'currency'): MoneyError {
  try {
    parseAmount(amount, currency);
  } catch (error) {
    expect(error).toBeInstanceOf(MoneyError);
    expect((error as MoneyError).field).toBe(field);
    expect((error as MoneyError).message).toContain(field);
    return error as MoneyError;
  }
  throw new Error(`parseAmount(${JSON.stringify(amount)}, ${JSON.stringify(currency)}) was accepted`);
}

describe('parseAmount and formatAmount', () => {
  it.each([
    ['49.99', 'USD', 4999n, 2],
    ['0.01', 'USD', 1n, 2],
    ['10.00', 'EUR', 1000n, 2],
    ['5000', 'JPY', 5000n, 0],
    ['1.250', 'BHD', 1250n, 3],
    ['0.001', 'KWD', 1n, 3],
    ['999999.99', 'USD', 99_999_999n, 2],
    ['99999999', 'JPY', 99_999_999n, 0],
  ])('when %s %s is parsed, then it is %s minor units and formats back to the same text', (text, currency, minor, digits) => {
    expect(currencyExponent(currency)).toBe(digits);
    expect(parseAmount(text, currency)).toBe(minor);
    expect(formatAmount(minor, currency)).toBe(text);
  });

  it('when any minor amount is formatted and parsed again, then it comes back exactly, for every exponent', () => {
    const samples = [1n, 9n, 10n, 99n, 100n, 101n, 4999n, 123_456n, MAX_MINOR_UNITS];
    for (const currency of ['USD', 'JPY', 'BHD', 'CLF']) {
      for (const minor of samples) expect(parseAmount(formatAmount(minor, currency), currency)).toBe(minor);
    }
  });

  it('when a sum of cents is formatted, then no binary-float rounding shows up', () => {
    // 0.1 + 0.2 !== 0.3 in floats; in minor units it is exact.
    expect(formatAmount(parseAmount('0.10', 'USD') + parseAmount('0.20', 'USD'), 'USD')).toBe('0.30');
  });
});

describe('amount refusals', () => {
  it('when the amount is a JSON number, then it is refused: money is never a float on the wire', () => {
    expect(refusal(49.99, 'USD', 'amount').message).toMatch(/decimal string/);
  });

  it.each([
    ['49.9', 'USD', 'too few decimals'],
    ['49.999', 'USD', 'too many decimals'],
    ['50', 'USD', 'no decimals where two are required'],
    ['5000.0', 'JPY', 'decimals where the currency has none'],
    ['1.25', 'BHD', 'two decimals where three are required'],
    ['.99', 'USD', 'no integer part'],
    ['49.', 'USD', 'a trailing point'],
    ['49,99', 'EUR', 'a decimal comma'],
    ['-1.00', 'USD', 'a negative amount'],
    ['+1.00', 'USD', 'a leading plus'],
    ['1e3', 'JPY', 'exponent notation'],
    ['4.999e1', 'USD', 'exponent notation with decimals'],
    [' 49.99', 'USD', 'leading whitespace'],
    ['49.99 ', 'USD', 'trailing whitespace'],
    ['49.99\n', 'USD', 'a trailing newline'],
    ['4 999.00', 'USD', 'a digit-group space'],
    ['４９.９９', 'USD', 'full-width digits'],
    ['', 'USD', 'an empty string'],
  ])('when the amount is %j in %s (%s), then it is refused naming the amount and the digits expected', (text, currency) => {
    const error = refusal(text, currency, 'amount');
    expect(error.message).toContain(`exactly ${currencyExponent(currency)} decimal digit(s) for ${currency}`);
  });

  it.each([
    ['0.00', 'USD'],
    ['0', 'JPY'],
    ['0.000', 'BHD'],
  ])('when the amount is zero (%s %s), then it is refused as not greater than zero', (text, currency) => {
    expect(refusal(text, currency, 'amount').message).toMatch(/greater than zero/);
  });

  it.each([
    ['1000000.00', 'USD', '999999.99'],
    ['100000000', 'JPY', '99999999'],
    ['100000.000', 'BHD', '99999.999'],
    ['99999999999999999999999.00', 'USD', '999999.99'],
  ])('when the amount %s %s is over 99999999 minor units, then it is refused naming the maximum %s', (text, currency, max) => {
    expect(refusal(text, currency, 'amount').message).toContain(`maximum of ${max} ${currency}`);
  });

  it('when the amount is a very long string, then the message quotes only its start', () => {
    const error = refusal('9'.repeat(10_000), 'USD', 'amount');
    expect(error.message.length).toBeLessThan(200);
  });
});

describe('currency refusals', () => {
  it.each([
    ['usd', 'a lowercase code'],
    ['ABC', 'an unknown code'],
    ['US', 'a two-letter code'],
    ['USDT', 'a four-letter code'],
    [' USD', 'a padded code'],
    ['', 'an empty code'],
  ])('when the currency is %j (%s), then it is refused naming the currency', (currency) => {
    refusal('49.99', currency, 'currency');
    expect(currencyExponent(currency)).toBeUndefined();
  });

  it.each([[840], [null], [undefined]])('when the currency is %j instead of a string, then it is refused naming the currency', (currency) => {
    refusal('49.99', currency, 'currency');
  });

  it('when an amount is formatted in an unknown currency, then it is refused naming the currency', () => {
    expect(() => formatAmount(4999n, 'usd')).toThrow(MoneyError);
  });

  it('when the code has no minor unit in ISO 4217 (gold, SDR, test and no-currency codes), then it is not payable', () => {
    // ISO 4217 lists these with minor unit "N.A."; currency-codes reports 0, which would
    // let "5" XXX through as a chargeable amount.
    const notCurrencies = ['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX'];
    const accepted = notCurrencies.filter((code) => currencyExponent(code) !== undefined);
    expect(accepted).toEqual([]);
  });

  it('when the code is a real currency starting with X, then it stays payable', () => {
    expect(['XAF', 'XOF', 'XPF', 'XCD'].map(currencyExponent)).toEqual([0, 0, 0, 2]);
  });
});
