import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { applyPaymentEvent } from '../../../src/machines/payment.snapshot.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { Payment } from '../../../src/persistence/payments.repository.js';
import { createPaymentProcessor } from '../../../src/workers/payment.processor.js';
import { lookUpRefund, refundRequestOf, sendRefund } from '../../../src/workers/refund-outcome.js';
import { asPaymentsRepository, createInMemoryPaymentsRepository } from '../../support/fakes/in-memory-payments.repository.js';
import { fakeJob, newPayment } from '../../support/fakes/payment-records.js';
import { asPaymentGateway, createScriptedGateway, type ScriptedGateway } from '../../support/fakes/scripted.gateway.js';
import type { RefundScriptStep } from '../../support/fakes/scripted-refunds.js';

/**
 * One refund call in the machine's terms: what the gateway said becomes the
 * outcome event, and what nobody can tell yet stays `unsettled` (asked again
 * under the same key), never a failure on a guess.
 */
const logger = pino({ level: 'silent' });
const metrics = createMetrics();

/** A $49.99 payment charged on `gw`, holding one owed refund of `amountMinor` (not committed: the functions only read the payment). */
async function owing(gw: ScriptedGateway, amountMinor = '1000'): Promise<{ payment: Payment; refundId: string }> {
  const repo = createInMemoryPaymentsRepository();
  const p = newPayment();
  await repo.insert(p);
  await createPaymentProcessor({ payments: asPaymentsRepository(repo), gateways: [{ gateway: asPaymentGateway(gw.gateway) }], logger, metrics })(fakeJob(p.orderId));
  const charged = (await repo.findByOrderId(p.orderId))!;
  const refundId = randomUUID();
  const step = applyPaymentEvent(charged.snapshot, { type: 'REFUND_REQUESTED', refundId, amountMinor, reason: 'customer asked' });
  expect(step.snapshot.context.refunds[refundId]?.status).toBe('requested');
  return { payment: { ...charged, snapshot: step.snapshot }, refundId };
}

const gatewayWith = (refunds: RefundScriptStep[], o: { refundLookupFails?: boolean } = {}) => createScriptedGateway([], { refunds, ...o });

describe('sendRefund', () => {
  it("asks for the owed amount on the charge's intent under <paymentId>-refund-<refundId>-<attempt>", async () => {
    const gw = gatewayWith(['succeeded']);
    const { payment, refundId } = await owing(gw, '1234');

    expect(refundRequestOf(payment, refundId)).toEqual({
      orderId: payment.orderId,
      paymentId: payment.id,
      refundId,
      intentId: payment.transactionId,
      amountMinor: 1234n,
      currency: 'USD',
      reason: 'customer asked',
      idempotencyKey: `${payment.id}-refund-${refundId}-1`,
    });
    const step = await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);

    expect(step).toEqual({ kind: 'event', event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId: gw.refunds[0]!.gatewayRefundId } });
    expect(gw.refundCalls.refund).toEqual([refundRequestOf(payment, refundId)]);
  });

  it.each([
    ['pending', { type: 'REFUND_PENDING' }],
    ['failed', { type: 'REFUND_FAILED', code: 'declined' }],
  ] as const)('when the gateway answers %s, then that is the outcome, with the gateway refund id', async (status, expected) => {
    const gw = gatewayWith([status]);
    const { payment, refundId } = await owing(gw);

    const step = await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);

    expect(step).toMatchObject({ kind: 'event', event: { ...expected, refundId, gatewayRefundId: gw.refunds[0]!.gatewayRefundId } });
  });

  it('when the gateway refuses for good, then REFUND_FAILED carries its code and nothing is looked up', async () => {
    const gw = gatewayWith(['refused']);
    const { payment, refundId } = await owing(gw);

    const step = await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);

    expect(step).toMatchObject({ kind: 'event', event: { type: 'REFUND_FAILED', refundId, code: 'exceeds_refundable' } });
    expect(gw.refunds).toHaveLength(0);
    expect(gw.refundCalls.lookupRefund).toHaveLength(0);
  });

  it('when the refund was made and its answer lost, then the look-up by refund id finds it: REFUND_SUCCEEDED with its id', async () => {
    const gw = gatewayWith(['lost']);
    const { payment, refundId } = await owing(gw);

    const step = await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);

    expect(step).toEqual({ kind: 'event', event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId: gw.refunds[0]!.gatewayRefundId } });
    expect(gw.refundCalls.lookupRefund).toEqual([
      { orderId: payment.orderId, paymentId: payment.id, refundId, intentId: payment.transactionId, idempotencyKey: `${payment.id}-refund-${refundId}-1` },
    ]);
  });

  it('when the refund certainly was not sent, then it is unsettled without a look-up, and a repeat under the same key makes exactly one refund', async () => {
    const gw = gatewayWith(['not_sent', 'succeeded']);
    const { payment, refundId } = await owing(gw);
    const gateway = asPaymentGateway(gw.gateway);

    await expect(sendRefund(gateway, payment, refundId)).resolves.toMatchObject({ kind: 'unsettled' });
    expect(gw.refundCalls.lookupRefund).toHaveLength(0);

    await expect(sendRefund(gateway, payment, refundId)).resolves.toMatchObject({ kind: 'event', event: { type: 'REFUND_SUCCEEDED' } });
    await expect(sendRefund(gateway, payment, refundId)).resolves.toMatchObject({ kind: 'event', event: { type: 'REFUND_SUCCEEDED' } });
    expect(new Set(gw.refundCalls.refund.map((r) => r.idempotencyKey))).toEqual(new Set([`${payment.id}-refund-${refundId}-1`]));
    expect(gw.refunds).toHaveLength(1);
  });

  it('when the outcome is unknown and the look-up cannot tell, then it is unsettled, never failed', async () => {
    const gw = gatewayWith(['timeout'], { refundLookupFails: true });
    const { payment, refundId } = await owing(gw);

    await expect(sendRefund(asPaymentGateway(gw.gateway), payment, refundId)).resolves.toMatchObject({ kind: 'unsettled', reason: expect.stringMatching(/look-up failed/) });
  });

  it('when the outcome is unknown and the gateway has no such refund, then it is unsettled (sent again later under the same key)', async () => {
    const gw = gatewayWith(['timeout']);
    const { payment, refundId } = await owing(gw);

    await expect(sendRefund(asPaymentGateway(gw.gateway), payment, refundId)).resolves.toMatchObject({ kind: 'unsettled' });
    expect(gw.refundCalls.lookupRefund).toHaveLength(1);
  });

  it('when the gateway throws something that is not a gateway error, then it propagates: a bug is not an outcome', async () => {
    const gw = gatewayWith([]);
    const { payment, refundId } = await owing(gw);
    const broken = { ...asPaymentGateway(gw.gateway), refund: async () => Promise.reject(new TypeError('cannot read properties of undefined')) };

    await expect(sendRefund(broken, payment, refundId)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('lookUpRefund', () => {
  it('asks by the gateway refund id once the machine knows it, and reports the settled outcome', async () => {
    const gw = gatewayWith(['pending']);
    const { payment, refundId } = await owing(gw);
    const sent = await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);
    if (sent.kind !== 'event') throw new Error('expected the pending outcome');
    const pending = { ...payment, snapshot: applyPaymentEvent(payment.snapshot, sent.event).snapshot };
    const gatewayRefundId = gw.refunds[0]!.gatewayRefundId;

    await expect(lookUpRefund(asPaymentGateway(gw.gateway), pending, refundId)).resolves.toMatchObject({ kind: 'event', event: { type: 'REFUND_PENDING' } });
    gw.settleRefund(gatewayRefundId, 'succeeded');
    await expect(lookUpRefund(asPaymentGateway(gw.gateway), pending, refundId)).resolves.toEqual({ kind: 'event', event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId } });

    expect(gw.refundCalls.lookupRefund.map((r) => r.gatewayRefundId)).toEqual([gatewayRefundId, gatewayRefundId]);
  });

  it('reports a refund never made as unsettled, not failed', async () => {
    const gw = gatewayWith([]);
    const { payment, refundId } = await owing(gw);

    await expect(lookUpRefund(asPaymentGateway(gw.gateway), payment, refundId)).resolves.toMatchObject({ kind: 'unsettled' });
  });
});

describe('a refund sent again under a new attempt', () => {
  it('when an earlier attempt went through after all (a stale failure re-armed it), then that is the outcome and nothing is sent again', async () => {
    const gw = gatewayWith(['succeeded']);
    const { payment, refundId } = await owing(gw);
    await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);
    const made = gw.refunds[0]!.gatewayRefundId;
    // A late failure for another attempt re-armed the refund: attempt 2, no gateway id recorded.
    const refund = payment.snapshot.context.refunds[refundId]!;
    const rearmed: Payment = {
      ...payment,
      snapshot: { ...payment.snapshot, context: { ...payment.snapshot.context, refunds: { [refundId]: { ...refund, attempt: 2, gatewayRefundId: null } } } },
    };

    const step = await sendRefund(asPaymentGateway(gw.gateway), rearmed, refundId);

    expect(step).toEqual({ kind: 'event', event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId: made } });
    expect(gw.refundCalls.refund).toHaveLength(1);
  });

  it('when every earlier attempt failed, then the new attempt is sent under its own key', async () => {
    const gw = gatewayWith(['failed', 'succeeded']);
    const { payment, refundId } = await owing(gw);
    await sendRefund(asPaymentGateway(gw.gateway), payment, refundId);
    const refund = payment.snapshot.context.refunds[refundId]!;
    const rearmed: Payment = {
      ...payment,
      snapshot: { ...payment.snapshot, context: { ...payment.snapshot.context, refunds: { [refundId]: { ...refund, attempt: 2, gatewayRefundId: null } } } },
    };

    const step = await sendRefund(asPaymentGateway(gw.gateway), rearmed, refundId);

    expect(step).toMatchObject({ kind: 'event', event: { type: 'REFUND_SUCCEEDED', refundId } });
    expect(gw.refundCalls.refund.map((r) => r.idempotencyKey)).toEqual([`${payment.id}-refund-${refundId}-1`, `${payment.id}-refund-${refundId}-2`]);
  });
});
