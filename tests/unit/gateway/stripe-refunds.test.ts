import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import type { RefundRequest } from '../../../src/gateway/gateway.port.js';
import { refundFor, refundOutcome, refundParams } from '../../../src/gateway/stripe-refunds.js';

const request: RefundRequest = {
  orderId: 'order-1',
  paymentId: 'payment-1',
  refundId: 'refund-1',
  intentId: 'pi_1',
  amountMinor: 1250n,
  currency: 'BHD',
  idempotencyKey: 'payment-1-refund-refund-1',
};

/** A refund object as Stripe returns it (the fields the adapter reads, the rest as Stripe sends them). */
function stripeRefund(fields: Partial<Stripe.Refund>): Stripe.Refund {
  return {
    id: 're_1',
    object: 'refund',
    amount: 1250,
    currency: 'bhd',
    created: 1_700_000_000,
    payment_intent: 'pi_1',
    charge: 'ch_1',
    metadata: { orderId: 'order-1', paymentId: 'payment-1', refundId: 'refund-1', idempotencyKey: request.idempotencyKey },
    status: 'succeeded',
    reason: null,
    ...fields,
  } as Stripe.Refund;
}

describe('stripe refund mapping', () => {
  it('when a refund is asked with free text as its reason, then the text goes to metadata with our ids and Stripe gets no reason', () => {
    expect(refundParams({ ...request, reason: 'customer changed their mind' })).toEqual({
      payment_intent: 'pi_1',
      amount: 1250,
      metadata: { orderId: 'order-1', paymentId: 'payment-1', refundId: 'refund-1', idempotencyKey: request.idempotencyKey, reason: 'customer changed their mind' },
    });
  });

  it("when the reason is one Stripe knows, then Stripe gets it too; without an amount, Stripe's default (all that is left) applies", () => {
    const params = refundParams({ ...request, amountMinor: undefined, reason: 'requested_by_customer' });
    expect(params).toMatchObject({ reason: 'requested_by_customer', metadata: { reason: 'requested_by_customer' } });
    expect(params).not.toHaveProperty('amount');
  });

  it('when the reason is longer than a metadata value may be, then it is cut to 500 characters', () => {
    const metadata = refundParams({ ...request, reason: 'x'.repeat(600) }).metadata as Record<string, string>;
    expect(metadata.reason).toHaveLength(500);
  });

  it.each([
    ['succeeded', { status: 'succeeded', amountMinor: 1250n }],
    ['pending', { status: 'pending', amountMinor: 1250n }],
    ['requires_action', { status: 'pending', amountMinor: 1250n }],
  ])('when Stripe says %s, then the refund is %o', (status, expected) => {
    const outcome = refundOutcome(stripeRefund({ status }));
    expect(outcome).toMatchObject({ ...expected, gatewayRefundId: 're_1' });
    expect(outcome).toMatchObject({ response: { id: 're_1', status, amount: '1250', currency: 'bhd', payment_intent: 'pi_1', created: 1_700_000_000 } });
  });

  it("when Stripe failed or cancelled a refund, then it is failed with Stripe's failure reason as the code", () => {
    expect(refundOutcome(stripeRefund({ status: 'failed', failure_reason: 'expired_or_canceled_card' }))).toMatchObject({
      status: 'failed',
      code: 'expired_or_canceled_card',
      reason: expect.stringContaining('expired_or_canceled_card'),
      response: { failure_reason: 'expired_or_canceled_card' },
    });
    expect(refundOutcome(stripeRefund({ status: 'canceled' }))).toMatchObject({ status: 'failed', code: 'canceled' });
  });

  it('when a charge has several refunds, then the one for our refund id is found, a live one before a failed one', () => {
    const others = [stripeRefund({ id: 're_other', metadata: { refundId: 'refund-2' } })];
    const failed = stripeRefund({ id: 're_failed', status: 'failed', failure_reason: 'declined' });
    const live = stripeRefund({ id: 're_live', status: 'pending' });

    expect(refundFor('refund-1', [...others, failed, live])).toMatchObject({ status: 'pending', gatewayRefundId: 're_live' });
    expect(refundFor('refund-1', [...others, failed])).toMatchObject({ status: 'failed', gatewayRefundId: 're_failed' });
    expect(refundFor('refund-1', others)).toEqual({ status: 'not_found' });
  });
});
