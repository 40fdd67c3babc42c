import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { webhookAction, type WebhookAction } from '../../../src/gateway/stripe-webhook-events.js';

/** Stripe's own example objects (openapi fixtures3), adjusted only as a payment of this service would have them. */
const FIXTURES = JSON.parse(readFileSync(new URL('../../fixtures/stripe/fixtures3-objects.json', import.meta.url), 'utf8')) as {
  resources: Record<'payment_intent' | 'refund' | 'charge' | 'dispute' | 'event', Record<string, unknown>>;
};
const stripe = (name: keyof typeof FIXTURES.resources, changes: Record<string, unknown> = {}) => ({ ...structuredClone(FIXTURES.resources[name]), ...changes });

const ORDER_ID = '0b9b6c1e-3f56-4c1a-9d7a-2f1c8e0d5a11';
const REFUND_ID = '6f1d2c3b-4a59-4e87-b6c5-d4e3f2a1b0c9';
const GATEWAY = 'primary';
const event = (type: string, object: unknown) => ({ type, data: { object } });
const map = (type: string, object: unknown): WebhookAction => webhookAction(event(type, object), { gateway: GATEWAY });

const intent = (metadata: Record<string, string> = { orderId: ORDER_ID }) =>
  stripe('payment_intent', { status: 'succeeded', amount_received: 1099, latest_charge: 'ch_1PgafuB7WZ01zgkWXYmPNZs8', metadata });
const refund = (changes: Record<string, unknown> = {}) =>
  stripe('refund', { payment_intent: 'pi_1PgafyB7WZ01zgkWSjxsAJo3', metadata: { orderId: ORDER_ID, refundId: REFUND_ID }, ...changes });

describe('a verified Stripe event, mapped to what the payment machine should apply', () => {
  it('when payment_intent.succeeded carries our orderId, then CHARGE_SUCCEEDED with the intent id and the configured gateway, found by order', () => {
    expect(map('payment_intent.succeeded', intent())).toEqual({
      locate: { orderId: ORDER_ID },
      event: { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_1PgafyB7WZ01zgkWSjxsAJo3', gateway: GATEWAY },
    });
  });

  it('when payment_intent.succeeded has no orderId in its metadata, then it is ignored: not an intent of this service', () => {
    expect(map('payment_intent.succeeded', intent({}))).toEqual({ ignore: expect.stringContaining('no orderId') });
  });

  it('when payment_intent.payment_failed arrives, then it is ignored: the worker settles declines from its own confirm or look-up', () => {
    const failed = stripe('payment_intent', { status: 'requires_payment_method', metadata: { orderId: ORDER_ID } });
    expect(map('payment_intent.payment_failed', failed)).toEqual({ ignore: expect.stringContaining('the worker settles a decline') });
  });

  it.each([
    ['refund.updated', 'succeeded', { type: 'REFUND_SUCCEEDED', refundId: REFUND_ID, gatewayRefundId: 're_1Pgc72B7WZ01zgkWqPvrRrPE' }],
    ['refund.updated', 'pending', { type: 'REFUND_PENDING', refundId: REFUND_ID, gatewayRefundId: 're_1Pgc72B7WZ01zgkWqPvrRrPE' }],
    // Not settled either way: asked again later, as the adapter's look-up reads it.
    ['refund.updated', 'requires_action', { type: 'REFUND_PENDING', refundId: REFUND_ID, gatewayRefundId: 're_1Pgc72B7WZ01zgkWqPvrRrPE' }],
  ])('when %s says the refund is %s, then %o, found by the order in its metadata', (type, status, expected) => {
    expect(map(type, refund({ status }))).toEqual({ locate: { orderId: ORDER_ID }, event: expected });
  });

  it.each([
    ['refund.failed', 'failed', 'expired_or_canceled_card'],
    ['refund.updated', 'failed', 'lost_or_stolen_card'],
    ['refund.updated', 'canceled', null],
  ])('when %s says %s (failure_reason %s), then REFUND_FAILED with the gateway code and a reason naming the refund', (type, status, failureReason) => {
    const action = map(type, refund({ status, failure_reason: failureReason }));
    expect(action).toEqual({
      locate: { orderId: ORDER_ID },
      event: {
        type: 'REFUND_FAILED',
        refundId: REFUND_ID,
        gatewayRefundId: 're_1Pgc72B7WZ01zgkWqPvrRrPE',
        code: failureReason ?? status,
        reason: expect.stringContaining('re_1Pgc72B7WZ01zgkWqPvrRrPE'),
      },
    });
  });

  it('when a refund of ours has no orderId in its metadata, then it is found by its payment intent', () => {
    const action = map('refund.updated', refund({ metadata: { refundId: REFUND_ID } }));
    expect(action).toMatchObject({ locate: { transactionId: 'pi_1PgafyB7WZ01zgkWSjxsAJo3' }, event: { type: 'REFUND_SUCCEEDED' } });
  });

  it('when a refund has no refundId in its metadata (made in the Dashboard), then it is ignored', () => {
    expect(map('refund.updated', stripe('refund'))).toEqual({ ignore: expect.stringContaining('no refundId') });
  });

  it('when charge.refunded arrives, then it is ignored as redundant, even with its refunds listed', () => {
    const charge = stripe('charge', { refunded: true, amount_refunded: 100, refunds: { object: 'list', data: [refund()], has_more: false } });
    expect(map('charge.refunded', charge)).toEqual({ ignore: expect.stringContaining('refund.updated or refund.failed') });
  });

  it('when charge.dispute.created names a payment intent, then DISPUTE_OPENED with the amount as a decimal string, found by that intent', () => {
    const dispute = stripe('dispute', { payment_intent: 'pi_1PgafyB7WZ01zgkWSjxsAJo3' });
    expect(map('charge.dispute.created', dispute)).toEqual({
      locate: { transactionId: 'pi_1PgafyB7WZ01zgkWSjxsAJo3' },
      event: { type: 'DISPUTE_OPENED', disputeId: 'dp_1Pgc71B7WZ01zgkWMevJiAUx', amountMinor: '1000', reason: 'general' },
    });
  });

  it('when a dispute names no payment intent (a charge made without one), then it is ignored', () => {
    expect(map('charge.dispute.created', stripe('dispute'))).toEqual({ ignore: expect.stringContaining('names no payment intent') });
  });

  it('when the event is of a type the service does not act on, then it is ignored, naming the type', () => {
    const plan = FIXTURES.resources.event as { type: string; data: { object: unknown } };
    expect(webhookAction(plan, { gateway: GATEWAY })).toEqual({ ignore: 'plan.created is not an event this service acts on' });
    expect(map('toString', intent())).toEqual({ ignore: 'toString is not an event this service acts on' });
  });

  it('when a known type carries no object with an id, then it is ignored rather than thrown', () => {
    expect(map('payment_intent.succeeded', null)).toEqual({ ignore: expect.stringContaining('no object with an id') });
    expect(map('refund.updated', { status: 'succeeded' })).toEqual({ ignore: expect.stringContaining('no object with an id') });
  });
});
