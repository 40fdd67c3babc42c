import { describe, expect, it } from 'vitest';
import { maskCardDataInBody } from '../../../src/queues/card-data-body.js';
import { containsCardNumber, maskCardNumbers, passesLuhn } from '../../../src/queues/card-data.js';

describe('card number detection', () => {
  it.each([
    ['a 16-digit Visa', '4111111111111111'],
    ['a 15-digit Amex', '378282246310005'],
    ['a 14-digit Diners', '30569309025904'],
    ['a 13-digit Visa', '4222222222222'],
    ['a 19-digit number', '4000000000000000006'],
    ['groups separated by spaces', '4111 1111 1111 1111'],
    ['groups separated by dashes', '4242-4242-4242-4242'],
    ['mixed single separators', '4111-1111 1111-1111'],
    ['a number inside other text', 'pay with card 4111111111111111 please'],
    ['a number inside a token-like string', 'pm_4111111111111111'],
    ['a number followed by more digit groups (a CVV)', '4111 1111 1111 1111 123'],
    ['a number preceded by other digit groups', '12 4111111111111111'],
    ['a number glued to letters that are not hex', 'visa4111111111111111'],
    ['a number after a hex word and a dash', 'deadbeef-4111111111111111'],
    // Hex words are no longer left out of the scan: only known id formats are.
    ['a number glued to hex letters', 'ab4111111111111111cd'],
    ['a SHA-256-like hex word holding a number', 'e3b0c44298fc1c149afbf4c8996fb92a4111111111111111b27ae41e4649b934'],
    ['digits separated by two spaces', '4111  1111  1111  1111'],
    ['digits separated by dots', '4111.1111.1111.1111'],
  ])('when the text holds %s, then it is card data', (_, text) => {
    expect(containsCardNumber(text)).toBe(true);
  });

  it.each([
    ['a number failing Luhn', '4111111111111112'],
    ['12 digits, even passing Luhn', '123456789015'],
    ['20 digits glued together, even passing Luhn', '12345678901234567894'],
    ['a random UUID', '2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11'],
    ['an all-digit UUID whose first groups pass Luhn', '12340002-1234-4234-8234-123456789012'],
    ['an ISO timestamp', '2026-11-26T10:00:00Z'],
    ['an ISO timestamp with fraction and offset', '2026-11-26 10:00:00.123456+01:00'],
    ['an amount in USD', '49.99'],
    ['the largest amount', '999999.99'],
    ['a JPY amount of 8 digits', '99999999'],
    ['a BHD amount', '1.250'],
    ['a phone number', '+1 415-555-0100'],
    ['no digits at all', 'pm_card_visa'],
    // Random hex ids hold Luhn-valid runs of 13-19 digits often enough (about 1 random traceparent in 240) to refuse real events.
    ['a W3C traceparent whose trace id holds a Luhn-valid digit run', '00-ab4111111111111111cdef0123456789-00f067aa0ba902b7-01'],
    ['a W3C traceparent with a Luhn-valid run across its dash', '00-abcdef0123456789abcdef4111111111-111111abcdefabcd-01'],
    ['a W3C traceparent whose span id is all digits', '00-4bf92f3577b34da6a3ce929d0e0e4736-4111111111111111-01'],
  ])('when the text holds %s, then it is not card data', (_, text) => {
    expect(containsCardNumber(text)).toBe(false);
  });

  it('when digits are checked, then Luhn accepts valid check digits only', () => {
    expect(passesLuhn('79927398713')).toBe(true);
    expect(passesLuhn('79927398710')).toBe(false);
    expect(passesLuhn('')).toBe(false);
  });
});

describe('card number masking', () => {
  it('when a number is masked, then only its last four digits remain', () => {
    expect(maskCardNumbers('card 4111111111111111 ok')).toBe('card ************1111 ok');
  });

  it('when a grouped number is masked, then separators stay and only the last four digits remain', () => {
    expect(maskCardNumbers('4242-4242-4242-4242')).toBe('****-****-****-4242');
  });

  it('when a number is followed by a CVV group, then at most four digits of the number remain', () => {
    const masked = maskCardNumbers('4111 1111 1111 1111 123');
    expect(masked.replace(/[^\d]/g, '').length).toBeLessThanOrEqual(7);
    expect(masked).not.toContain('4111 1111');
    expect(containsCardNumber(masked)).toBe(false);
  });

  it('when the text holds no card number, then it is returned unchanged', () => {
    const text = '{"id":"2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11","amount":"49.99","time":"2026-11-26T10:00:00Z"}';
    expect(maskCardNumbers(text)).toBe(text);
  });

  it('when a JSON body carries a card number, then the masked body is the same JSON with the number masked', () => {
    const body = Buffer.from(JSON.stringify({ data: { paymentMethod: '4111111111111111', amount: '49.99' } }));
    const masked = JSON.parse(maskCardDataInBody(body).toString('utf8'));
    expect(masked).toEqual({ data: { paymentMethod: '************1111', amount: '49.99' } });
  });

  it('when the card number is hidden behind JSON escapes, then the masked body no longer holds it', () => {
    const body = Buffer.from('{"data":{"note":"\\u0034111111111111111"}}');
    const masked = maskCardDataInBody(body).toString('utf8');
    expect(JSON.parse(masked).data.note).toBe('************1111');
  });

  it('when the body is not UTF-8, then every byte but the masked digits is kept', () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' 4111111111111111 '), Buffer.from([0xc3])]);
    const masked = maskCardDataInBody(body);
    expect(masked.length).toBe(body.length);
    expect([...masked.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(masked.at(-1)).toBe(0xc3);
    expect(masked.subarray(2, -1).toString('latin1')).toBe(' ************1111 ');
  });
});
