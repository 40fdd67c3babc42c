import { describe, expect, it } from 'vitest';
import type { Refund } from '../../../src/persistence/compensations.repository.js';
import type { RefundRequested } from '../../../src/queues/order-event.schema.js';
import { cancellationRefundId, checkRefundAmount, refundConflicts, refundFromEvent } from '../../../src/queues/order-refund-request.js';

const ORDER_ID = '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10';
const REFUND_ID = '3c1f2a9e-7b4d-4e21-9a0c-5d6e7f809a1b';
const PAYMENT = { id: '7d0e5c4b-3a29-4f18-8e07-6d5c4b3a2918', currency: 'USD' };

function request(over: Partial<RefundRequested> = {}): RefundRequested {
  return {
    eventId: 'evt-1',
    orderId: ORDER_ID,
    refundId: REFUND_ID,
    amount: '19.99',
    amountProblem: null,
    reason: 'damaged',
    traceHeaders: {},
    ...over,
  };
}

describe('a refund amount in the payment\'s currency', () => {
  it.each([
    ['19.99', 'USD', 1999n],
    ['5000', 'JPY', 5000n],
    ['1.250', 'BHD', 1250n],
    ['999999.99', 'USD', 99_999_999n],
  ])('when %s %s is asked for, then it is %s minor units', (amount, currency, minor) => {
    expect(checkRefundAmount(amount, currency)).toEqual({ ok: true, amountMinor: minor });
  });

  it.each([
    ['19.9', 'USD', /exactly 2 decimal digit\(s\) for USD/],
    ['50.00', 'JPY', /exactly 0 decimal digit\(s\) for JPY/],
    ['1000000.00', 'USD', /exceeds the maximum/],
    [null, 'USD', /amount is missing/],
  ])('when %s %s is asked for, then it is refused with a reason that does not repeat it', (amount, currency, reason) => {
    const result = checkRefundAmount(amount, currency);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(reason) });
    if (amount && !result.ok) expect(result.reason).not.toContain(`"${amount}"`);
  });
});

describe('the refunds row a RefundRequested asks for', () => {
  it('when the order\'s payment is known, then the amount is exact minor units in its currency', () => {
    expect(refundFromEvent(request(), PAYMENT)).toEqual({
      id: REFUND_ID,
      orderId: ORDER_ID,
      paymentId: PAYMENT.id,
      amount: '19.99',
      amountMinor: 1999n,
      currency: 'USD',
      reason: 'damaged',
      sourceEventId: 'evt-1',
    });
  });

  it('when the payment is not known yet, then the amount is kept as given for the job to check', () => {
    expect(refundFromEvent(request(), undefined)).toMatchObject({ paymentId: null, amount: '19.99', amountMinor: null, currency: null });
    expect(refundFromEvent(request(), undefined)).not.toHaveProperty('failureCode');
  });

  it('when the amount has the wrong digits for the payment\'s currency, then the request is recorded as invalid_request', () => {
    expect(refundFromEvent(request({ amount: '19.9' }), PAYMENT)).toMatchObject({
      amountMinor: null,
      amount: '19.9',
      currency: 'USD',
      failureCode: 'invalid_request',
      failureReason: expect.stringMatching(/exactly 2 decimal digit/),
    });
  });

  it('when the amount is valid in no currency, then it is invalid_request with or without the payment', () => {
    const invalid = request({ amount: '-1', amountProblem: 'amount must be a decimal string such as "49.99"' });
    for (const payment of [PAYMENT, undefined]) {
      expect(refundFromEvent(invalid, payment)).toMatchObject({ amountMinor: null, failureCode: 'invalid_request', failureReason: invalid.amountProblem });
    }
  });
});

describe('a repeated refundId', () => {
  const recorded = (over: Partial<Refund> = {}): Refund => ({
    id: REFUND_ID, orderId: ORDER_ID, paymentId: PAYMENT.id, amountMinor: 1999n, amount: '19.99', currency: 'USD', reason: 'damaged',
    status: 'requested', failureCode: null, failureReason: null, gatewayRefundId: null, idempotencyKey: null, sourceEventId: 'evt-1',
    cancel: false, createdAt: new Date(), updatedAt: new Date(), ...over,
  });

  it('when it names the same order and amount, then nothing differs (another reason is only a note)', () => {
    expect(refundConflicts(recorded(), refundFromEvent(request({ reason: 'other words', eventId: 'evt-2' }), PAYMENT))).toEqual([]);
  });

  it('when it asks for another amount, then that is named', () => {
    expect(refundConflicts(recorded(), refundFromEvent(request({ amount: '5.00' }), PAYMENT))).toEqual(['amount "19.99" then "5.00"']);
  });

  it('when it names another order, then that is named', () => {
    const other = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
    expect(refundConflicts(recorded(), refundFromEvent(request({ orderId: other }), undefined))).toEqual([`order ${ORDER_ID} then ${other}`]);
  });
});

describe('the refundId of a cancellation', () => {
  it('then it is a version-5 UUID, the same for the same order however it is written, and another for another order', () => {
    const id = cancellationRefundId(ORDER_ID);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(cancellationRefundId(ORDER_ID.toUpperCase())).toBe(id);
    expect(cancellationRefundId('0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9')).not.toBe(id);
  });
});
