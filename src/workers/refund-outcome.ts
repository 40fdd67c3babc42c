import { PermanentGatewayError, TransientGatewayError } from '../gateway/gateway.errors.js';
import type { PaymentGateway, RefundLookup, RefundRequest } from '../gateway/gateway.port.js';
import type { RefundOutcomeEvent } from '../machines/payment.refunds.js';
import type { Payment } from '../persistence/payments.repository.js';
import { refundIdempotencyKey } from '../persistence/compensations.repository.js';

/**
 * What one refund call established, in the machine's terms, or `unsettled`:
 * nobody can tell yet (the gateway did not answer and a look-up could not
 * find out). An unsettled refund is asked again later under the same key, so
 * it is never sent twice and never reported failed on a guess.
 */
export type RefundStep = { kind: 'event'; event: RefundOutcomeEvent } | { kind: 'unsettled'; reason: string };

/** The gateway request for a refund the machine holds as owed (its current attempt's key). */
export function refundRequestOf(payment: Payment, refundId: string): RefundRequest {
  const ctx = payment.snapshot.context;
  const refund = ctx.refunds[refundId];
  if (!refund) throw new Error(`order ${payment.orderId}: refund ${refundId} is not in the payment's machine`);
  const intentId = refund.intentId ?? ctx.transactionId;
  if (!intentId) throw new Error(`order ${payment.orderId}: refund ${refundId} owed on a payment with no charge id`);
  return {
    orderId: payment.orderId,
    paymentId: payment.id,
    refundId,
    intentId,
    amountMinor: BigInt(refund.amountMinor),
    currency: payment.currency,
    reason: refund.reason,
    idempotencyKey: refundIdempotencyKey(payment.id, refundId, refund.attempt),
  };
}

function fromGateway(refundId: string, found: Exclude<RefundLookup, { status: 'not_found' }>): RefundOutcomeEvent {
  switch (found.status) {
    case 'succeeded':
      return { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId: found.gatewayRefundId };
    case 'pending':
      return { type: 'REFUND_PENDING', refundId, gatewayRefundId: found.gatewayRefundId };
    case 'failed':
      return { type: 'REFUND_FAILED', refundId, code: found.code, reason: found.reason, gatewayRefundId: found.gatewayRefundId };
  }
}

/**
 * Sends an owed refund. An unknown outcome is settled by asking the gateway, as for charges.
 * A refund sent again under a new attempt (a cancellation's refund that failed) first asks
 * whether an earlier attempt did go through after all: a stale failure (a late webhook, say)
 * may have re-armed a refund whose money is already back, and a new attempt would then be
 * refused for good as exceeding the charge, leaving the refund owed for ever.
 */
export async function sendRefund(gateway: PaymentGateway, payment: Payment, refundId: string): Promise<RefundStep> {
  const request = refundRequestOf(payment, refundId);
  if ((payment.snapshot.context.refunds[refundId]?.attempt ?? 1) > 1) {
    const earlier = await anyAttempt(gateway, request);
    if (earlier.kind === 'unsettled' || earlier.event.type !== 'REFUND_FAILED') return earlier;
  }
  try {
    return { kind: 'event', event: fromGateway(refundId, await gateway.refund(request)) };
  } catch (err) {
    if (err instanceof PermanentGatewayError) {
      return { kind: 'event', event: { type: 'REFUND_FAILED', refundId, code: err.code, reason: err.message } };
    }
    if (err instanceof TransientGatewayError && err.outcome === 'not_sent') return { kind: 'unsettled', reason: `${err.code}: ${err.message}` };
    if (!(err instanceof TransientGatewayError)) throw err;
    return lookUpRefund(gateway, payment, refundId);
  }
}

/**
 * Asks the gateway where a refund stands. Not found is proof it was never
 * made (the refund list is read from the records), but a create still in
 * flight could land later: so it stays owed and is sent again under the same
 * key, which can only ever make one refund.
 */
export async function lookUpRefund(gateway: PaymentGateway, payment: Payment, refundId: string): Promise<RefundStep> {
  const refund = payment.snapshot.context.refunds[refundId];
  const { orderId, paymentId, intentId, idempotencyKey } = refundRequestOf(payment, refundId);
  try {
    const found = await gateway.lookupRefund({
      orderId, paymentId, refundId, intentId, idempotencyKey,
      ...(refund?.gatewayRefundId ? { gatewayRefundId: refund.gatewayRefundId } : {}),
    });
    if (found.status === 'not_found') return { kind: 'unsettled', reason: 'the gateway has no such refund yet: it is sent again under the same key' };
    return { kind: 'event', event: fromGateway(refundId, found) };
  } catch (err) {
    if (err instanceof TransientGatewayError || err instanceof PermanentGatewayError) return { kind: 'unsettled', reason: `look-up failed: ${err.message}` };
    throw err;
  }
}

/** What any attempt of this refund came to at the gateway: one that moved (or may move) money wins over a failed one. */
async function anyAttempt(gateway: PaymentGateway, request: RefundRequest): Promise<RefundStep> {
  const { orderId, paymentId, refundId, intentId } = request;
  try {
    const found = await gateway.lookupRefund({ orderId, paymentId, refundId, intentId });
    if (found.status === 'not_found') return { kind: 'event', event: { type: 'REFUND_FAILED', refundId, code: 'not_found', reason: 'no earlier attempt was made' } };
    return { kind: 'event', event: fromGateway(refundId, found) };
  } catch (err) {
    if (err instanceof TransientGatewayError || err instanceof PermanentGatewayError) return { kind: 'unsettled', reason: `look-up of earlier attempts failed: ${err.message}` };
    throw err;
  }
}
