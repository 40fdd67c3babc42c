import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeHandle, RefundRequest } from '../../../src/gateway/gateway.port.js';
import { createMockGateway, type MockGateway, type MockGatewayOptions } from '../../../src/gateway/mock.gateway.js';

const noWait = async () => {};

function gatewayWith(options: MockGatewayOptions = {}): MockGateway {
  return createMockGateway({ sleep: noWait, ...options });
}

/** A charge of 4999 USD minor units that went through. */
async function charged(gateway: MockGateway, paymentMethod = 'pm_card_visa'): Promise<ChargeHandle> {
  const paymentId = randomUUID();
  const handle = await gateway.prepare({
    orderId: randomUUID(),
    paymentId,
    amountMinor: 4999n,
    currency: 'USD',
    paymentMethod,
    idempotencyKey: `${paymentId}-intent-0`,
  });
  await gateway.charge(handle).catch(() => undefined);
  return handle;
}

function refundOf(handle: ChargeHandle, overrides: Partial<RefundRequest> = {}): RefundRequest {
  const refundId = overrides.refundId ?? randomUUID();
  return {
    orderId: handle.orderId,
    paymentId: handle.paymentId,
    intentId: handle.intentId,
    refundId,
    amountMinor: 1000n,
    currency: 'USD',
    idempotencyKey: `${handle.paymentId}-refund-${refundId}`,
    ...overrides,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to fail'),
    (error: unknown) => error,
  );
}

describe('mock gateway refunds', () => {
  it('when a charge is refunded without an amount, then everything is refunded and nothing is left to refund', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    const outcome = await gateway.refund(refundOf(handle, { amountMinor: undefined, reason: 'order cancelled' }));

    expect(outcome).toEqual({
      status: 'succeeded',
      gatewayRefundId: expect.stringMatching(/^mock_re_/),
      amountMinor: 4999n,
      response: { id: outcome.gatewayRefundId, status: 'succeeded', amount: '4999', currency: 'usd', payment_intent: handle.intentId, created: expect.any(Number) },
    });
    const more = await failureOf(gateway.refund(refundOf(handle, { amountMinor: 1n })));
    expect(more).toBeInstanceOf(PermanentGatewayError);
    expect(more).toMatchObject({ code: 'exceeds_refundable' });
  });

  it('when a charge is refunded in parts, then the parts add up to the charge and one more minor unit is refused as exceeds_refundable', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    const first = await gateway.refund(refundOf(handle, { amountMinor: 1000n }));
    const rest = await gateway.refund(refundOf(handle, { amountMinor: 3999n }));

    expect([first, rest].map((o) => o.status === 'succeeded' && o.amountMinor)).toEqual([1000n, 3999n]);
    await expect(gateway.refund(refundOf(handle, { amountMinor: 1n }))).rejects.toMatchObject({ code: 'exceeds_refundable' });
  });

  it('when more than is left is asked, then it is refused as exceeds_refundable and no refund exists for it', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    const request = refundOf(handle, { amountMinor: 5000n });
    const error = await failureOf(gateway.refund(request));

    expect(error).toBeInstanceOf(PermanentGatewayError);
    expect(error).toMatchObject({ code: 'exceeds_refundable', message: expect.stringContaining('4999 left') });
    expect(await gateway.lookupRefund(request)).toEqual({ status: 'not_found' });
  });

  it('when a declined or an unconfirmed charge is refunded, then it is refused as not_charged', async () => {
    const gateway = gatewayWith();
    const declined = await charged(gateway, 'pm_card_chargeDeclined');
    const paymentId = randomUUID();
    const prepared = await gateway.prepare({ orderId: randomUUID(), paymentId, amountMinor: 100n, currency: 'USD', paymentMethod: 'pm_card_visa', idempotencyKey: paymentId });

    await expect(gateway.refund(refundOf(declined))).rejects.toMatchObject({ name: 'PermanentGatewayError', code: 'not_charged' });
    await expect(gateway.refund(refundOf(prepared))).rejects.toMatchObject({ name: 'PermanentGatewayError', code: 'not_charged' });
  });

  it('when the same key is sent again, then the first refund comes back and nothing more is refunded; with another amount it is refused', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    const request = refundOf(handle, { amountMinor: 4000n });
    const first = await gateway.refund(request);
    const again = await gateway.refund(request);

    expect(again).toEqual(first);
    await expect(gateway.refund(refundOf(handle, { amountMinor: 999n }))).resolves.toMatchObject({ status: 'succeeded' });
    await expect(gateway.refund({ ...request, amountMinor: 100n })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('when the answer to a refund is lost, then the outcome is unknown, look-up finds it by refund id and by its id, and a retry refunds nothing twice', async () => {
    const lost = new Set<string>();
    const gateway = gatewayWith({ loseRefundResponse: (r) => lost.delete(r.refundId) });
    const handle = await charged(gateway);
    const request = refundOf(handle, { amountMinor: 4999n });
    lost.add(request.refundId);
    const error = await failureOf(gateway.refund(request));

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ outcome: 'unknown' });
    const found = await gateway.lookupRefund({ ...request });
    expect(found).toMatchObject({ status: 'succeeded', amountMinor: 4999n });
    const byId = await gateway.lookupRefund({ ...request, gatewayRefundId: (found as { gatewayRefundId: string }).gatewayRefundId });
    expect(byId).toEqual(found);
    expect(await gateway.refund(request)).toEqual(found);
  });

  it('when a refund is pending, then it holds its amount until it settles; a failed one gives its amount back', async () => {
    const gateway = gatewayWith({ refundStatus: () => 'pending' });
    const handle = await charged(gateway);
    const request = refundOf(handle, { amountMinor: 4999n });
    const pending = await gateway.refund(request);

    expect(pending).toMatchObject({ status: 'pending', amountMinor: 4999n });
    await expect(gateway.refund(refundOf(handle, { amountMinor: 1n }))).rejects.toMatchObject({ code: 'exceeds_refundable' });
    gateway.settleRefund(pending.gatewayRefundId, 'failed');
    expect(await gateway.lookupRefund(request)).toMatchObject({ status: 'failed', gatewayRefundId: pending.gatewayRefundId, code: 'declined' });

    const retryRequest = refundOf(handle, { amountMinor: 4999n });
    const retry = await gateway.refund(retryRequest);
    gateway.settleRefund(retry.gatewayRefundId, 'succeeded');
    expect(await gateway.lookupRefund({ ...retryRequest, gatewayRefundId: retry.gatewayRefundId })).toMatchObject({ status: 'succeeded', amountMinor: 4999n });
  });

  it('when a refund id was never used, then look-up answers not_found; an unknown gateway refund id cannot tell', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    await gateway.refund(refundOf(handle));

    expect(await gateway.lookupRefund(refundOf(handle))).toEqual({ status: 'not_found' });
    await expect(gateway.lookupRefund({ ...refundOf(handle), gatewayRefundId: 'mock_re_nope' })).rejects.toMatchObject({
      name: 'TransientGatewayError',
      outcome: 'unknown',
    });
  });

  it('when the currency is not the charge\'s or the amount is not positive, then it is refused as an invalid request', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);

    await expect(gateway.refund(refundOf(handle, { currency: 'EUR' }))).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(gateway.refund(refundOf(handle, { amountMinor: 0n }))).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('when the caller has aborted already, then nothing is sent', async () => {
    const gateway = gatewayWith();
    const handle = await charged(gateway);
    const request = refundOf(handle);

    await expect(gateway.refund(request, AbortSignal.abort())).rejects.toMatchObject({ name: 'TransientGatewayError', outcome: 'not_sent' });
    expect(await gateway.lookupRefund(request)).toEqual({ status: 'not_found' });
  });
});
