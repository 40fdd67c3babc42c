import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../../src/queues/cloudevent-delivery.js';
import { parseOrderDelivery } from '../../../src/queues/order-event.schema.js';

const ORDER_ID = '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10';
const REFUND_ID = '3c1f2a9e-7b4d-4e21-9a0c-5d6e7f809a1b';
const EVENT_ID = '2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11';

function cancelled(data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return {
    specversion: '1.0',
    id: EVENT_ID,
    source: 'order-service',
    type: 'OrderCancelled',
    time: '2026-12-06T10:00:00Z',
    datacontenttype: 'application/json',
    data: { orderId: ORDER_ID, reason: 'customer changed their mind', ...data },
    ...envelope,
  };
}

function refundRequested(data: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}) {
  return {
    ...cancelled({}, envelope),
    type: 'RefundRequested',
    data: { orderId: ORDER_ID, refundId: REFUND_ID, amount: '19.99', reason: 'damaged in transit', ...data },
    ...envelope,
  };
}

const parse = (value: unknown, headers?: Record<string, unknown>) =>
  parseOrderDelivery(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), { headers });

function withoutKey<T extends Record<string, unknown>>(o: T, key: string) {
  const copy: Record<string, unknown> = { ...o };
  delete copy[key];
  return copy;
}

describe('parsing an order.events delivery', () => {
  describe('when an OrderCancelled is valid', () => {
    it('then it carries its ids and reason', () => {
      expect(parse(cancelled())).toEqual({
        kind: 'order-cancelled',
        event: { eventId: EVENT_ID, orderId: ORDER_ID, reason: 'customer changed their mind', traceHeaders: {} },
      });
    });

    it('then an upper-case order id is lower-cased, as PostgreSQL prints it', () => {
      expect(parse(cancelled({ orderId: ORDER_ID.toUpperCase() }))).toMatchObject({ event: { orderId: ORDER_ID } });
    });

    it.each([
      ['missing', undefined, null],
      ['null', null, null],
      ['a number', 42, '42'],
      ['text holding NUL, which PostgreSQL cannot store', 'out\u0000 of stock', 'out of stock'],
    ])('then a reason that is %s does not stop the cancellation', (_, reason, kept) => {
      expect(parse(cancelled({ reason }))).toMatchObject({ kind: 'order-cancelled', event: { reason: kept } });
    });

    it('then W3C trace context in the message headers is kept', () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      expect(parse(cancelled(), { traceparent })).toMatchObject({ event: { traceHeaders: { traceparent } } });
    });
  });

  describe('when a RefundRequested is valid', () => {
    it('then it carries its ids, the amount as given, and no amount problem', () => {
      expect(parse(refundRequested())).toEqual({
        kind: 'refund-requested',
        event: {
          eventId: EVENT_ID,
          orderId: ORDER_ID,
          refundId: REFUND_ID,
          amount: '19.99',
          amountProblem: null,
          reason: 'damaged in transit',
          traceHeaders: {},
        },
      });
    });

    it.each(['5000', '1.250', '0.01', '19.9'])('then %s is left for the payment\'s currency to judge', (amount) => {
      expect(parse(refundRequested({ amount }))).toMatchObject({ kind: 'refund-requested', event: { amount, amountProblem: null } });
    });

    it('then an upper-case refund id is lower-cased', () => {
      expect(parse(refundRequested({ refundId: REFUND_ID.toUpperCase() }))).toMatchObject({ event: { refundId: REFUND_ID } });
    });
  });

  describe('when a RefundRequested names its order and refund but its amount is valid in no currency, then it is attributable, marked for RefundFailed(invalid_request)', () => {
    it.each([
      ['missing', undefined, null, /amount is missing/],
      ['a JSON number', 19.99, '19.99', /must be a decimal string.*not a number/],
      ['negative', '-19.99', '-19.99', /must be a decimal string/],
      ['zero', '0.00', '0.00', /greater than zero/],
      ['written with a leading zero', '019.99', '019.99', /must be a decimal string/],
      ['not a number at all', 'all of it', 'all of it', /must be a decimal string/],
      ['in exponent form', '1e3', '1e3', /must be a decimal string/],
    ])('%s', (_, amount, kept, problem) => {
      const result = parse(refundRequested({ amount }));
      expect(result).toMatchObject({ kind: 'refund-requested', event: { refundId: REFUND_ID, amount: kept, amountProblem: expect.stringMatching(problem) } });
    });
  });

  describe('when the delivery is not attributable, then it is dead-lettered with a reason naming what is wrong', () => {
    it.each([
      ['not JSON', () => parseOrderDelivery(Buffer.from('{"specversion": "1.0",')), /not JSON/],
      ['not UTF-8', () => parseOrderDelivery(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/],
      ['not a CloudEvent', () => parse({ orderId: ORDER_ID, reason: 'x' }), /not a CloudEvents 1\.0 envelope/],
      ['without an id', () => parse(withoutKey(cancelled(), 'id')), /id is missing/],
      ['without data', () => parse(withoutKey(refundRequested(), 'data')), /data is missing/],
      ['of another input\'s type', () => parse(cancelled({}, { type: 'InventoryReserved' })), /^type is not accepted: only "OrderCancelled" and "RefundRequested" are$/],
      ['of an unknown type, without quoting it back', () => parse(cancelled({}, { type: 'OrderShipped' })), /^type is not accepted: only "OrderCancelled" and "RefundRequested" are$/],
      ['a cancellation without an order id', () => parse(cancelled({ orderId: undefined })), /data\.orderId is missing: a UUID is expected/],
      ['a cancellation with an order id that is not a UUID', () => parse(cancelled({ orderId: 'order-42' })), /data\.orderId must be a UUID/],
      ['a refund without an order id', () => parse(refundRequested({ orderId: undefined })), /data\.orderId is missing/],
      ['a refund with a numeric order id', () => parse(refundRequested({ orderId: 42 })), /data\.orderId must be a UUID/],
      ['a refund without a refund id', () => parse(refundRequested({ refundId: undefined })), /data\.refundId is missing: a UUID is expected/],
      ['a refund with a refund id that is not a UUID', () => parse(refundRequested({ refundId: 'refund-1' })), /data\.refundId must be a UUID/],
      ['a cancellation reason over 255 characters', () => parse(cancelled({ reason: 'r'.repeat(256) })), /data\.reason is 256 characters long: at most 255/],
      ['a refund reason over 255 characters', () => parse(refundRequested({ reason: 'r'.repeat(300) })), /data\.reason is 300 characters long/],
      ['a key over 255 characters', () => parse(refundRequested({ ['k'.repeat(256)]: 1 })), /a key in data is 256 characters long/],
      ['over 64 KiB', () => parse(cancelled({}, { padding: Array(300).fill('p'.repeat(250)) })), new RegExp(`bytes: at most ${MAX_BODY_BYTES}`)],
    ])('%s', (_, run, reason) => {
      const result = run();
      expect(result.kind).toBe('dead-letter');
      expect(result.kind === 'dead-letter' && result.reason).toMatch(reason);
    });
  });

  describe('when anything carries a card number, then it is refused as card data, whatever the type', () => {
    it.each([
      ['in a cancellation reason', () => parse(cancelled({ reason: 'card 4111 1111 1111 1111 was stolen' }))],
      ['in a refund reason, fullwidth', () => parse(refundRequested({ reason: '４１１１１１１１１１１１１１１１' }))],
      ['as a refund amount number', () => parse(refundRequested({ amount: 4111111111111111 }))],
      ['in an unknown type', () => parse(cancelled({ pan: '4111111111111111' }, { type: 'OrderShipped' }))],
      ['in a header', () => parse(refundRequested(), { 'x-card': '4111-1111-1111-1111' })],
      ['in a body that is not JSON', () => parseOrderDelivery(Buffer.from('pan=4111111111111111'))],
    ])('%s', (_, run) => {
      expect(run()).toEqual({ kind: 'card-data' });
    });
  });
});
