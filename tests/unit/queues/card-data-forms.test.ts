import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maskCardDataInBody, maskEveryDigitInBody } from '../../../src/queues/card-data-body.js';
import { containsCardNumber, findCardNumbers, maskAllDigits, maskCardNumbers } from '../../../src/queues/card-data.js';
import { createPrng } from '../../../src/gateway/simulator/prng.js';

/**
 * A generated corpus: each test card written with every separator, in every
 * digit form, at every position, glued to letters or not. Each must be found,
 * and masking must leave no digit of it but the last four, in any form.
 */

const CARDS = ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '4222222222222'];
const SEPARATORS = ['', ' ', '  ', '-', '.', '_', '\u00a0', '\u00a0\u00a0', '\u2007', '\u202f', '\u3000', '/', ',', ':', '\t', '\n', '·', '*', '"', '","'];
/** The zero of each form; the other nine digits follow it. Fullwidth, Arabic-Indic, Eastern Arabic, Devanagari, Bengali, Thai, mathematical bold. */
const DIGIT_ZEROS = [0x30, 0xff10, 0x660, 0x6f0, 0x966, 0x9e6, 0xe50, 0x1d7ce];
const POSITIONS: Array<[string, (card: string) => string]> = [
  ['alone', (c) => c],
  ['in a sentence', (c) => `pay with ${c} please`],
  ['glued to hex letters', (c) => `ab${c}ef`],
  ['glued to other letters', (c) => `visa${c}x`],
  ['after an underscore prefix', (c) => `cus_${c}`],
  ['in a JSON string', (c) => JSON.stringify({ note: c })],
  ['followed by a CVV', (c) => `${c} 123`],
];

function written(card: string, separator: string, zero: number, groupSize: number): string {
  const digits = [...card].map((d) => String.fromCodePoint(zero + Number(d)));
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += groupSize) groups.push(digits.slice(i, i + groupSize).join(''));
  return groups.join(separator);
}

const corpus: Array<{ name: string; text: string; card: string }> = [];
for (const card of CARDS) {
  for (const separator of SEPARATORS) {
    for (const zero of DIGIT_ZEROS) {
      for (const [where, place] of POSITIONS) {
        const groupSize = separator === '' ? card.length : 4;
        corpus.push({ name: `${card} sep=${JSON.stringify(separator)} zero=U+${zero.toString(16)} ${where}`, text: place(written(card, separator, zero, groupSize)), card });
      }
    }
  }
}

/** Every digit of the text, in any form, as ASCII. */
function asciiDigits(text: string): string {
  return [...text.normalize('NFKC')].map((c) => (/\p{Nd}/u.test(c) ? String(digitOf(c)) : '')).join('');
}
function digitOf(c: string): number {
  const zero = DIGIT_ZEROS.find((z) => c.codePointAt(0)! >= z && c.codePointAt(0)! < z + 10);
  return zero === undefined ? Number(c) : c.codePointAt(0)! - zero;
}

describe(`a generated corpus of ${corpus.length} card numbers, written every way`, () => {
  it('when each is scanned, then every one is found', () => {
    const missed = corpus.filter((c) => !containsCardNumber(c.text)).map((c) => c.name);
    expect(missed).toEqual([]);
  });

  it('when each is masked, then none is found any more and at most four of its digits remain', () => {
    const leaks = corpus
      .map((c) => ({ ...c, masked: maskCardNumbers(c.text) }))
      .filter((c) => containsCardNumber(c.masked) || asciiDigits(c.masked).replace(/^123$|123$/, '').length > 4 || asciiDigits(c.masked).includes(c.card.slice(0, 6)));
    expect(leaks.map((l) => `${l.name} -> ${l.masked}`)).toEqual([]);
  });

  it('when each is sent as a JSON body, then the masked body holds none of it, whatever the form', () => {
    const leaks = corpus.filter((c) => {
      const masked = maskCardDataInBody(Buffer.from(JSON.stringify({ data: { customerId: c.text } }))).toString('utf8');
      return containsCardNumber(masked) || asciiDigits(masked).includes(c.card.slice(0, 8));
    });
    expect(leaks.map((l) => l.name)).toEqual([]);
  });
});

describe('numbers written as JSON numbers', () => {
  it.each(['4.111111111111111e15', '4111111111111111e0', '0.4111111111111111e16', '41111111111111.11e2', '4111111111111111.0', '4111111111111.111e3'])(
    'when a body holds %s, then the masked body holds no card number',
    (number) => {
      const body = Buffer.from(`{"data":{"amount":${number}},"note":"\\u0034111111111111111"}`);
      const masked = maskCardDataInBody(body).toString('utf8');
      expect(asciiDigits(masked)).not.toContain('41111111');
      expect(masked).not.toContain('\\u0034111');
    },
  );
});

describe('what is not a card number', () => {
  it.each([
    ['a UUID', '2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11'],
    ['an all-digit UUID', '12340002-1234-4234-8234-123456789012'],
    ['a traceparent with an all-digit span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-4111111111111111-01'],
    ['an RFC 3339 timestamp with fraction and offset', '2026-11-26T10:00:00.123456789+01:00'],
    ['a timestamp with a space and fraction', '2026-11-26 10:00:00.123456+01:00'],
    ['a Stripe customer id', 'cus_NffrFeUfNV2Hib'],
    ['a Stripe payment method id', 'pm_1MqLiJLkdIwHu7ixUEgbFdYF'],
    ['a long all-letter word', 'supercalifragilisticexpialidocious'.repeat(4)],
    ['a 20-digit id glued together', '12345678901234567894'],
    ['an amount', '999999.99'],
  ])('when the text is %s, then it is not card data', (_, text) => {
    expect(containsCardNumber(text)).toBe(false);
  });

  it('when a timestamp carries 16 fraction digits, then it is not a known format and its digits are scanned', () => {
    expect(containsCardNumber('2026-11-26T10:00:00.4111111111111111Z')).toBe(true);
  });

  it('when 5,000 random UUIDs and 5,000 random traceparents are scanned, then none is refused', () => {
    const random = createPrng(20261206);
    const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
    const ids = [...Array.from({ length: 5000 }, () => randomUUID()), ...Array.from({ length: 5000 }, () => `00-${hex(32)}-${hex(16)}-01`)];
    expect(ids.filter(containsCardNumber)).toEqual([]);
    expect(containsCardNumber(ids.join(' '))).toBe(false);
  });
});

describe('hostile shapes', () => {
  it('when the text is 64 KiB of single digits, then it is scanned without overflowing the stack, in well under a second', () => {
    const text = Array.from({ length: 32 * 1024 }, (_, i) => '4111111111111111'[i % 16]).join(' ');
    const started = performance.now();
    expect(findCardNumbers(text).length).toBeGreaterThan(0);
    expect(maskCardNumbers(text)).not.toMatch(/4 1 1 1 1 1 1 1/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('when a body is megabytes, then masking every digit takes one pass over the bytes', () => {
    const body = Buffer.from(`${'4111 1111 1111 1111 '.repeat(200_000)}４１１１`);
    const started = performance.now();
    const masked = maskEveryDigitInBody(body).toString('utf8');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(asciiDigits(masked)).toBe('');
  });

  it('when every digit is masked, then each form of digit becomes one asterisk', () => {
    expect(maskAllDigits('a ４٤𝟒4 b')).toBe('a **** b');
  });
});

describe('characters that fold to several digits', () => {
  it('when a short text of circled numbers spells a card number, then it is found', () => {
    // ⑪ is "11": nine characters holding the sixteen digits of 4111 1111 1111 1111; the last four digits stay.
    expect(containsCardNumber('4⑪⑪⑪⑪⑪⑪⑪1')).toBe(true);
    expect(maskCardNumbers('4⑪⑪⑪⑪⑪⑪⑪1')).toBe('*******⑪1');
  });
});
