import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeHandle, PaymentGateway, RefundOutcome, RefundRequest } from '../../../src/gateway/gateway.port.js';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import { createStripeGateway } from '../../../src/gateway/stripe.gateway.js';
import { bodyOf, getJson } from '../../support/sim-refund-client.js';

/**
 * The Stripe adapter's refunds against the simulator, which answers as
 * Stripe's Refunds API does (CONTRACT.md section 5).
 */
let simulator: Simulator;
let gateway: PaymentGateway;

interface RefundLedgerEntry {
  id: string;
  paymentIntent: string;
  amount: string;
  status: string;
}

function gatewayFor(options: { timeoutMs?: number } = {}): PaymentGateway {
  return createStripeGateway({ apiKey: 'sk_test_adapter', url: simulator.url, timeoutMs: options.timeoutMs ?? 5000 });
}

/** A charge of 4999 USD minor units that went through (or was declined, for a declining payment method). */
async function charged(paymentMethod = 'pm_card_visa', via: PaymentGateway = gateway): Promise<ChargeHandle> {
  const paymentId = randomUUID();
  const handle = await via.prepare({
    orderId: randomUUID(),
    paymentId,
    amountMinor: 4999n,
    currency: 'USD',
    paymentMethod,
    idempotencyKey: `${paymentId}-intent-0`,
  });
  await via.charge(handle).catch(() => undefined);
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

/** The simulator's refund ledger through its HTTP route, as reconciliation reads it. */
async function refundLedger(): Promise<RefundLedgerEntry[]> {
  const response = await fetch(`${simulator.url}/_sim/refunds`);
  expect(response.status).toBe(200);
  return (await response.json()) as RefundLedgerEntry[];
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to fail'),
    (error: unknown) => error,
  );
}

const idOf = (outcome: RefundOutcome) => outcome.gatewayRefundId;

beforeEach(async () => {
  simulator = createSimulator({ seed: 1 });
  await simulator.start();
  gateway = gatewayFor();
});

afterEach(async () => {
  await simulator.close();
});

describe('stripe adapter refunds against the simulator', () => {
  it('when a charge is refunded in full, then the refund succeeded with its id and amount, and carries our ids as metadata only', async () => {
    const handle = await charged();
    const request = refundOf(handle, { amountMinor: 4999n, reason: 'the parcel never arrived' });
    const outcome = await gateway.refund(request);

    expect(outcome).toEqual({
      status: 'succeeded',
      gatewayRefundId: expect.stringMatching(/^re_/),
      amountMinor: 4999n,
      response: { id: idOf(outcome), status: 'succeeded', amount: '4999', currency: 'usd', payment_intent: handle.intentId, created: expect.any(Number) },
    });
    expect(await refundLedger()).toMatchObject([{ id: idOf(outcome), paymentIntent: handle.intentId, amount: '4999', status: 'succeeded' }]);
    // Stripe refuses a free-text reason: it travels in metadata, and Stripe's own reason stays unset.
    expect(bodyOf(await getJson(simulator.url, `/v1/refunds/${idOf(outcome)}`))).toMatchObject({
      reason: null,
      metadata: { orderId: handle.orderId, paymentId: handle.paymentId, refundId: request.refundId, reason: 'the parcel never arrived' },
    });
  });

  it('when a charge is refunded in parts, then each part is its own refund and together they reach the charge', async () => {
    const handle = await charged();
    const first = await gateway.refund(refundOf(handle, { amountMinor: 1000n }));
    const second = await gateway.refund(refundOf(handle, { amountMinor: 3999n }));

    expect([first, second]).toMatchObject([
      { status: 'succeeded', amountMinor: 1000n },
      { status: 'succeeded', amountMinor: 3999n },
    ]);
    expect(idOf(first)).not.toBe(idOf(second));
    expect((await refundLedger()).map((r) => r.amount).sort()).toEqual(['1000', '3999']);
  });

  it('when no amount is given, then whatever is left is refunded', async () => {
    const handle = await charged();
    await gateway.refund(refundOf(handle, { amountMinor: 999n }));
    const rest = await gateway.refund(refundOf(handle, { amountMinor: undefined, reason: 'requested_by_customer' }));

    expect(rest).toMatchObject({ status: 'succeeded', amountMinor: 4000n });
  });

  it('when more than is left is asked, then it is refused permanently as exceeds_refundable and nothing is refunded', async () => {
    const handle = await charged();
    await gateway.refund(refundOf(handle, { amountMinor: 4000n }));
    const error = await failureOf(gateway.refund(refundOf(handle, { amountMinor: 1000n })));

    expect(error).toBeInstanceOf(PermanentGatewayError);
    expect(error).toMatchObject({ code: 'exceeds_refundable' });
    expect(await refundLedger()).toHaveLength(1);
  });

  it('when a charge refunded in full is refunded again, then it is refused as exceeds_refundable', async () => {
    const handle = await charged();
    await gateway.refund(refundOf(handle, { amountMinor: undefined }));

    await expect(gateway.refund(refundOf(handle, { amountMinor: undefined }))).rejects.toMatchObject({
      name: 'PermanentGatewayError',
      code: 'exceeds_refundable',
    });
  });

  it('when a declined charge is refunded, then it is refused permanently as not_charged', async () => {
    const handle = await charged('pm_card_chargeDeclined');

    await expect(gateway.refund(refundOf(handle))).rejects.toMatchObject({ name: 'PermanentGatewayError', code: 'not_charged' });
    expect(await refundLedger()).toEqual([]);
  });

  it('when the same key is sent again, then the same refund comes back and the charge is refunded once', async () => {
    const handle = await charged();
    const request = refundOf(handle, { amountMinor: 2500n });
    const first = await gateway.refund(request);
    const again = await gateway.refund(request);
    const concurrent = await Promise.all([gateway.refund(request), gateway.refund(request)]);

    expect(again).toEqual(first);
    expect(concurrent.map(idOf)).toEqual([idOf(first), idOf(first)]);
    expect(await refundLedger()).toHaveLength(1);
  });

  it('when the response to a refund is lost, then the outcome is unknown and look-up finds the refund by refund id and by its id', async () => {
    const handle = await charged();
    const request = refundOf(handle, { amountMinor: 4999n });
    simulator.setFaults({ lostResponseRate: 1 });
    const error = await failureOf(gateway.refund(request));
    simulator.setFaults({ lostResponseRate: 0 });

    expect(error).toBeInstanceOf(TransientGatewayError);
    expect(error).toMatchObject({ outcome: 'unknown' });
    const [made, ...more] = await refundLedger();
    expect(more).toEqual([]);
    const byRefundId = await gateway.lookupRefund({ ...request });
    expect(byRefundId).toMatchObject({ status: 'succeeded', gatewayRefundId: made!.id, amountMinor: 4999n });
    expect(await gateway.lookupRefund({ ...request, gatewayRefundId: made!.id })).toEqual(byRefundId);
    expect(await gateway.refund(request)).toEqual(byRefundId);
    expect(await refundLedger()).toHaveLength(1);
  });

  it('when the gateway does not answer a refund in time, then the outcome is unknown; look-up then proves it absent and a retry refunds once', async () => {
    const impatient = gatewayFor({ timeoutMs: 200 });
    const handle = await charged('pm_card_visa', impatient);
    const request = refundOf(handle);
    simulator.setFaults({ timeoutRate: 1 });
    const error = await failureOf(impatient.refund(request));
    simulator.setFaults({ timeoutRate: 0 });

    expect(error).toMatchObject({ name: 'TransientGatewayError', code: 'gateway_timeout', outcome: 'unknown' });
    expect(await impatient.lookupRefund(request)).toEqual({ status: 'not_found' });
    await expect(impatient.refund(request)).resolves.toMatchObject({ status: 'succeeded', amountMinor: 1000n });
    expect(await refundLedger()).toHaveLength(1);
  });

  it('when the gateway answers 500 to a refund, then the outcome is unknown', async () => {
    const handle = await charged();
    simulator.setFaults({ errorRate: 1 });

    await expect(gateway.refund(refundOf(handle))).rejects.toMatchObject({ name: 'TransientGatewayError', code: 'gateway_error', outcome: 'unknown' });
  });

  it('when a refund is pending, then look-up reports it pending until the gateway settles it, then succeeded', async () => {
    const handle = await charged();
    // Long enough that the first look-up, right after, still finds it pending on a busy machine.
    simulator.setFaults({ refundPendingRate: 1, refundSettleMs: 2000 });
    const request = refundOf(handle, { amountMinor: 4999n });
    const pending = await gateway.refund(request);

    expect(pending).toMatchObject({ status: 'pending', amountMinor: 4999n });
    expect(await gateway.lookupRefund({ ...request, gatewayRefundId: idOf(pending) })).toMatchObject({ status: 'pending' });
    await expect.poll(() => gateway.lookupRefund({ ...request, gatewayRefundId: idOf(pending) }), { timeout: 10_000, interval: 100 }).toMatchObject({
      status: 'succeeded',
      amountMinor: 4999n,
    });
    expect(await gateway.lookupRefund(request)).toMatchObject({ status: 'succeeded', gatewayRefundId: idOf(pending) });
  });

  it('when the gateway fails a refund, then it is reported failed with the gateway\'s reason and its amount can be refunded again', async () => {
    const handle = await charged();
    simulator.setFaults({ refundFailRate: 1 });
    const failed = await gateway.refund(refundOf(handle, { amountMinor: 4999n }));
    simulator.setFaults({ refundFailRate: 0 });

    expect(failed).toMatchObject({ status: 'failed', code: expect.any(String), reason: expect.stringContaining(idOf(failed)) });
    await expect(gateway.refund(refundOf(handle, { amountMinor: 4999n }))).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('when a charge has more refunds than one page holds, then look-up by refund id still finds the oldest', async () => {
    const handle = await charged();
    const oldest = refundOf(handle, { amountMinor: 1n });
    const made = await gateway.refund(oldest);
    for (let i = 0; i < 120; i += 1) await gateway.refund(refundOf(handle, { amountMinor: 1n }));

    expect(await gateway.lookupRefund(oldest)).toMatchObject({ status: 'succeeded', gatewayRefundId: idOf(made) });
  });

  it('when the gateway is down, then a refund is not sent and look-up cannot tell', async () => {
    const handle = await charged();
    await simulator.down();

    await expect(gateway.refund(refundOf(handle))).rejects.toMatchObject({ name: 'TransientGatewayError', outcome: 'not_sent' });
    await expect(gateway.lookupRefund(refundOf(handle))).rejects.toBeInstanceOf(TransientGatewayError);
  });
});
