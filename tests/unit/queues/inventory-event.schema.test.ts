import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, parseInventoryDelivery } from '../../../src/queues/inventory-event.schema.js';
import { createPrng } from '../../../src/gateway/simulator/prng.js';

const ORDER_ID = '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10';
const EVENT_ID = '2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11';

function event(data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return {
    specversion: '1.0',
    id: EVENT_ID,
    source: 'inventory-service',
    type: 'InventoryReserved',
    time: '2026-11-26T10:00:00Z',
    datacontenttype: 'application/json',
    data: { orderId: ORDER_ID, amount: '49.99', currency: 'USD', customerId: 'cus_123', paymentMethod: 'pm_card_visa', ...data },
    ...envelope,
  };
}

/** A valid event padded with short strings to exactly `size` bytes. */
function bodyOfBytes(size: number): string {
  const items: string[] = [];
  const body = () => JSON.stringify(event({}, { padding: items }));
  // Each item costs its length plus two quotes and a comma.
  while (size - body().length > 250) items.push('p'.repeat(200));
  items.push('p'.repeat(size - body().length - 3));
  return body();
}

const parse = (value: unknown, headers?: Record<string, unknown>) =>
  parseInventoryDelivery(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), { headers });

const uuidFrom = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;

function withoutKey<T extends Record<string, unknown>>(o: T, key: string) {
  const copy: Record<string, unknown> = { ...o };
  delete copy[key];
  return copy;
}

describe('parsing an InventoryReserved delivery', () => {
  describe('when the event is valid', () => {
    it.each([
      ['USD', '49.99', 4999n],
      ['EUR', '0.01', 1n],
      ['JPY', '5000', 5000n],
      ['BHD', '1.250', 1250n],
      ['USD', '999999.99', 99_999_999n],
      ['JPY', '99999999', 99_999_999n],
    ])('then %s %s is %s minor units, and the amount is kept as given', (currency, amount, minor) => {
      const result = parse(event({ currency, amount }));
      expect(result).toMatchObject({ kind: 'valid', event: { amount, amountMinor: minor, currency } });
    });

    it('then the event carries its ids, customer and payment method', () => {
      expect(parse(event())).toEqual({
        kind: 'valid',
        event: {
          eventId: EVENT_ID,
          orderId: ORDER_ID,
          amount: '49.99',
          amountMinor: 4999n,
          currency: 'USD',
          customerId: 'cus_123',
          paymentMethod: 'pm_card_visa',
          traceHeaders: {},
        },
      });
    });

    it('then an upper-case order id is lower-cased, as PostgreSQL prints it', () => {
      const result = parse(event({ orderId: ORDER_ID.toUpperCase() }));
      expect(result).toMatchObject({ kind: 'valid', event: { orderId: ORDER_ID } });
    });

    it('then a missing customer id is null', () => {
      const result = parse(event({ customerId: undefined }));
      expect(result).toMatchObject({ kind: 'valid', event: { customerId: null } });
    });

    it('then W3C trace context in the message headers is kept', () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const result = parse(event(), { traceparent });
      expect(result).toMatchObject({ kind: 'valid', event: { traceHeaders: { traceparent } } });
    });

    it('then a traceparent whose random ids hold a Luhn-valid run of digits is kept, not refused as card data', () => {
      const traceparent = '00-ab4111111111111111cdef0123456789-00f067aa0ba902b7-01';
      const result = parse(event(), { traceparent });
      expect(result).toMatchObject({ kind: 'valid', event: { traceHeaders: { traceparent } } });
    });

    it('then none of 5,000 events with random (seeded) trace context and request ids is refused as card data', () => {
      // Before hex ids were left out of the card-number scan, 25 of these were refused.
      const random = createPrng(20261127);
      const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
      // Only known formats are left out of the scan now: a bare 32-hex word is scanned like any text.
      const refused = Array.from({ length: 5000 }, () => ({ traceparent: `00-${hex(32)}-${hex(16)}-01`, 'x-request-id': uuidFrom(hex(32)) }))
        .filter((headers) => parse(event(), headers).kind !== 'valid');
      expect(refused).toEqual([]);
    });
  });

  describe('when the delivery is not attributable to an order, then it is dead-lettered with a reason naming what is wrong', () => {
    it.each([
      ['not JSON', () => parseInventoryDelivery(Buffer.from('{"specversion": "1.0",')), /not JSON/],
      ['not UTF-8', () => parseInventoryDelivery(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/],
      ['a JSON array', () => parse([1, 2]), /not a CloudEvents 1\.0 envelope/],
      ['without specversion', () => parse(withoutKey(event(), 'specversion')), /specversion/],
      ['with specversion 0.3', () => parse(event({}, { specversion: '0.3' })), /specversion must be "1\.0"/],
      ['without an id', () => parse(withoutKey(event(), 'id')), /id is missing/],
      ['with an empty source', () => parse(event({}, { source: '' })), /source must be/],
      ['without data', () => parse(withoutKey(event(), 'data')), /data is missing/],
      ['with a time that is not a timestamp', () => parse(event({}, { time: 'yesterday' })), /time must be an RFC 3339/],
      ['of an unknown type, without quoting it back', () => parse(event({}, { type: 'InventoryReleased' })), /^type is not accepted: only "InventoryReserved" is$/],
      ['without an order id', () => parse(event({ orderId: undefined })), /data\.orderId is missing: a UUID is expected/],
      ['with an order id that is not a UUID', () => parse(event({ orderId: 'order-42' })), /data\.orderId must be a UUID/],
      ['with a numeric order id', () => parse(event({ orderId: 42 })), /data\.orderId must be a UUID/],
      ['with a customer id over 255 characters', () => parse(event({ customerId: 'c'.repeat(256) })), /data\.customerId is 256 characters long: at most 255/],
      ['with an extension attribute over 255 characters', () => parse(event({}, { note: 'n'.repeat(300) })), /note is 300 characters long/],
      ['over 64 KiB', () => parse(event({}, { padding: Array(300).fill('p'.repeat(250)) })), /bytes: at most 65536/],
    ])('%s', (_, run, reason) => {
      const result = run();
      expect(result.kind).toBe('dead-letter');
      expect(result.kind === 'dead-letter' && result.reason).toMatch(reason);
    });

    it('not JSON, without quoting the body in the reason (it is logged)', () => {
      const result = parseInventoryDelivery(Buffer.from('paymentMethod=pm_card_visa'));
      expect(result).toMatchObject({ kind: 'dead-letter', reason: expect.stringMatching(/^body is not JSON/) });
      expect(result.kind === 'dead-letter' && result.reason).not.toMatch(/pm_card_visa/);
    });

    it('arrays nested 5,000 deep, without overflowing the stack', () => {
      const result = parse(`{"specversion":"1.0","data":${'['.repeat(5000)}${']'.repeat(5000)}}`);
      expect(result).toMatchObject({ kind: 'dead-letter', reason: /nested more than 32 levels deep/ });
    });

    it('an object with more keys and values than any event has', () => {
      const data = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 1]));
      expect(parse(event(data))).toMatchObject({ kind: 'dead-letter', reason: /more than 4096 keys and values/ });
    });

    it('a key over 255 characters, without quoting the key', () => {
      const result = parse(event({ ['k'.repeat(300)]: 1 }));
      expect(result).toMatchObject({ kind: 'dead-letter', reason: 'a key in data is 300 characters long: at most 255 are accepted' });
    });

    it('a body of megabytes, refused for its size before anything scans it', () => {
      const body = Buffer.from(`{"pad":"${'4111 1111 1111 1111 '.repeat(250_000)}"}`);
      const started = performance.now();
      const result = parseInventoryDelivery(body);
      // Scanning 5 MB took seconds; the size check alone takes microseconds.
      expect(performance.now() - started).toBeLessThan(50);
      expect(result).toMatchObject({ kind: 'dead-letter', reason: /bytes: at most 65536/ });
    });

    it('64 KiB of single digits, scanned without overflowing the stack', () => {
      const body = Array.from({ length: 32 * 1024 - 1 }, (_, i) => '4111111111111111'[i % 16]).join(' ');
      expect(parse(body)).toEqual({ kind: 'card-data' });
      // Ones alone never pass Luhn at 13-19 digits: only the size and the shape are left to refuse.
      expect(parse(body.replace(/\d/g, '1'))).toMatchObject({ kind: 'dead-letter', reason: /not JSON/ });
    });

    it('a body one byte over 64 KiB (while exactly 64 KiB is still read)', () => {
      expect(Buffer.byteLength(bodyOfBytes(MAX_BODY_BYTES))).toBe(MAX_BODY_BYTES);
      expect(parse(bodyOfBytes(MAX_BODY_BYTES)).kind).toBe('valid');
      expect(parse(bodyOfBytes(MAX_BODY_BYTES + 1))).toMatchObject({ kind: 'dead-letter', reason: /65537 bytes/ });
    });
  });

  describe('when anything looks like a card number, then it is card data, whatever else is wrong', () => {
    it.each([
      ['as the payment method', event({ paymentMethod: '4111111111111111' })],
      ['inside a token-like payment method', event({ paymentMethod: 'pm_4111111111111111' })],
      ['with spaces, in the customer id', event({ customerId: '4111 1111 1111 1111' })],
      ['with dashes, in an extension attribute', event({}, { note: '4242-4242-4242-4242' })],
      ['as a bare JSON number', event({ card: 4111111111111111 })],
      ['in an event of an unknown type', event({ paymentMethod: '4111111111111111' }, { type: 'Other' })],
      ['in a body that is not JSON', 'card=4111111111111111'],
    ])('%s', (_, value) => {
      expect(parse(value)).toEqual({ kind: 'card-data' });
    });

    it('hidden behind JSON unicode escapes', () => {
      const body = JSON.stringify(event()).replace('"pm_card_visa"', '"\\u0034111111111111111"');
      expect(parseInventoryDelivery(Buffer.from(body))).toEqual({ kind: 'card-data' });
    });

    it('with its separators hidden behind JSON unicode escapes', () => {
      const body = JSON.stringify(event()).replace('"pm_card_visa"', '"4111\\u00201111\\u002d1111 1111"');
      expect(parseInventoryDelivery(Buffer.from(body))).toEqual({ kind: 'card-data' });
    });

    it('in a message header', () => {
      expect(parse(event(), { 'x-card': '4111111111111111' })).toEqual({ kind: 'card-data' });
    });

    it.each([
      ['glued to a hex letter, in the customer id', event({ customerId: 'cus_a4111111111111111' })],
      ['with dots, in the customer id', event({ customerId: '4111.1111.1111.1111' })],
      ['with underscores, in the customer id', event({ customerId: 'cus_4111_1111_1111_1111' })],
      ['with no-break spaces, in an extension', event({}, { note: '4111\u00a01111\u00a01111\u00a01111' })],
      ['with double spaces, in the source', event({}, { source: 'pos 4111  1111  1111  1111' })],
      ['in fullwidth digits, in the payment method', event({ paymentMethod: 'pm_４１１１１１１１１１１１１１１１' })],
      ['in Arabic-Indic digits, in the customer id', event({ customerId: '٤١١١١١١١١١١١١١١١' })],
      ['as a JSON number in exponent form', '{"specversion":"1.0","data":{"amount":4.111111111111111e15}}'],
      ['as a key', event({ '4111111111111111': 'x' })],
    ])('%s', (_, value) => {
      expect(parse(value)).toEqual({ kind: 'card-data' });
    });

    it.each([
      ['a header key', { 'x-4111-1111-1111-1111': 'x' }],
      ['a numeric header value', { 'x-number': 4111111111111111 }],
      ['a header value in fullwidth digits', { 'x-note': '４１１１ １１１１ １１１１ １１１１' }],
      ['a byte-string header value in Arabic-Indic digits', { 'x-note': Buffer.from('٤١١١١١١١١١١١١١١١') }],
    ])('in %s', (_, headers) => {
      expect(parse(event(), headers)).toEqual({ kind: 'card-data' });
    });

    it('in the content type', () => {
      const body = Buffer.from(JSON.stringify(event()));
      expect(parseInventoryDelivery(body, { contentType: 'application/json; x=4111.1111.1111.1111' })).toEqual({ kind: 'card-data' });
    });

    it('in a message that is not UTF-8', () => {
      const body = Buffer.concat([Buffer.from([0xff]), Buffer.from('4111111111111111')]);
      expect(parseInventoryDelivery(body)).toEqual({ kind: 'card-data' });
    });
  });

  describe('when the order is known but the payment data is invalid, then it is an invalid payment naming the field', () => {
    it.each([
      ['amount', { amount: '49.9' }, /^amount must have exactly 2 decimal digit/],
      ['amount', { amount: '49.999' }, /exactly 2 decimal digit/],
      ['amount', { amount: '5000.00', currency: 'JPY' }, /exactly 0 decimal digit/],
      ['amount', { amount: '1.25', currency: 'BHD' }, /exactly 3 decimal digit/],
      ['amount', { amount: 49.99 }, /decimal string/],
      ['amount', { amount: undefined }, /decimal string/],
      ['amount', { amount: '0.00' }, /greater than zero/],
      ['amount', { amount: '-1.00' }, /must have exactly 2/],
      ['amount', { amount: '1000000.00' }, /exceeds the maximum of 999999\.99 USD/],
      ['amount', { amount: '100000000', currency: 'JPY' }, /exceeds the maximum/],
      ['amount', { amount: '1e3' }, /must have exactly 2/],
      ['currency', { currency: 'ZZZ' }, /^currency is not an ISO 4217 code$/],
      ['currency', { currency: 'usd' }, /not an ISO 4217 code/],
      ['currency', { currency: undefined }, /currency must be an ISO 4217 code/],
      ['paymentMethod', { paymentMethod: undefined }, /paymentMethod is missing: a gateway token/],
      ['paymentMethod', { paymentMethod: '' }, /paymentMethod is missing/],
      ['paymentMethod', { paymentMethod: 'visa ending 1111' }, /paymentMethod must be a gateway token/],
      ['paymentMethod', { paymentMethod: { number: 'x' } }, /paymentMethod must be a gateway token/],
      ['customerId', { customerId: 123 }, /customerId must be 1 to 255 letters, digits/],
      ['customerId', { customerId: 'cus 123' }, /customerId must be 1 to 255 letters, digits, "_" or "-"/],
      ['customerId', { customerId: 'cus.123' }, /customerId must be 1 to 255 letters/],
      ['customerId', { customerId: 'cus_１２３' }, /customerId must be 1 to 255 letters/],
      ['customerId', { customerId: '' }, /customerId must be 1 to 255 letters/],
    ])('%s: %j', (field, data, reason) => {
      const result = parse(event(data));
      expect(result).toMatchObject({ kind: 'invalid-payment', eventId: EVENT_ID, orderId: ORDER_ID, field });
      expect(result.kind === 'invalid-payment' && result.reason).toMatch(reason);
    });

    it('then the valid parts are usable and an invalid amount is not', () => {
      const result = parse(event({ amount: '49.9' }));
      expect(result).toMatchObject({
        kind: 'invalid-payment',
        usable: { amount: null, amountMinor: null, currency: 'USD', customerId: 'cus_123', paymentMethod: 'pm_card_visa' },
        given: { amount: '49.9', currency: 'USD' },
      });
    });

    it('then no reason quotes the value it refused, and what was given is kept only as printable ASCII', () => {
      for (const data of [{ amount: '12.3456789' }, { currency: 'QQQ' }, { customerId: 'bad id!' }, { paymentMethod: 'visa ending 1234' }]) {
        const result = parse(event(data));
        expect(result.kind === 'invalid-payment' && result.reason).not.toContain(Object.values(data)[0]);
      }
      expect(parse(event({ amount: '４９.９９' }))).toMatchObject({ given: { amount: '(not shown: not printable ASCII)' } });
    });

    it('then a payment method that is not a token is not usable', () => {
      const result = parse(event({ paymentMethod: 'visa ending 1111' }));
      expect(result).toMatchObject({ kind: 'invalid-payment', usable: { paymentMethod: null, amountMinor: 4999n } });
    });
  });
});
