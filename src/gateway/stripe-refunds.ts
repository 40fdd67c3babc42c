import type Stripe from 'stripe';
import type { RefundLookup, RefundOutcome, RefundRequest } from './gateway.port.js';

/**
 * How the Stripe adapter writes a refund and reads one back: pure functions,
 * so the mapping is testable without a gateway.
 */

/** The only reasons Stripe's API accepts; any other text would be refused, so it travels in metadata only. */
const STRIPE_REASONS: readonly string[] = ['duplicate', 'fraudulent', 'requested_by_customer'];

/** Stripe refuses a metadata value longer than this. */
const METADATA_VALUE_MAX = 500;

export function refundParams(request: RefundRequest): Stripe.RefundCreateParams {
  // The key too: a look-up must tell this attempt's refund from an earlier attempt's.
  const metadata: Record<string, string> = { orderId: request.orderId, paymentId: request.paymentId, refundId: request.refundId, idempotencyKey: request.idempotencyKey };
  if (request.reason) metadata.reason = request.reason.slice(0, METADATA_VALUE_MAX);
  const params: Stripe.RefundCreateParams = { payment_intent: request.intentId, metadata };
  // Stripe's API demands a number: minor units are at most 99,999,999 (money.ts), a safe integer.
  if (request.amountMinor !== undefined) params.amount = Number(request.amountMinor);
  if (request.reason && STRIPE_REASONS.includes(request.reason)) params.reason = request.reason;
  return params;
}

/** What is safe to store from a refund: ids, amounts and states; metadata holds only our own ids. */
function safeRefundResponse(refund: Stripe.Refund): Record<string, unknown> {
  const fields = {
    id: refund.id,
    status: refund.status,
    amount: String(refund.amount),
    currency: refund.currency,
    payment_intent: typeof refund.payment_intent === 'string' ? refund.payment_intent : refund.payment_intent?.id,
    created: refund.created,
    failure_reason: refund.failure_reason,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
}

export function refundOutcome(refund: Stripe.Refund): RefundOutcome {
  const response = safeRefundResponse(refund);
  switch (refund.status) {
    case 'succeeded':
      return { status: 'succeeded', gatewayRefundId: refund.id, amountMinor: BigInt(refund.amount), response };
    case 'failed':
    case 'canceled': {
      const code = refund.failure_reason || refund.status;
      return { status: 'failed', gatewayRefundId: refund.id, code, reason: `the gateway ${refund.status} refund ${refund.id}: ${code}`, response };
    }
    default:
      // pending, requires_action, or a state newer than this code: not settled either way, so ask again later.
      return { status: 'pending', gatewayRefundId: refund.id, amountMinor: BigInt(refund.amount), response };
  }
}

/**
 * The refund made for `refundId` among a charge's refunds. One key makes one
 * refund; should a repeat after the key was pruned have made another, a refund
 * that moved (or may move) money wins over a failed one.
 */
export function refundFor(refundId: string, refunds: readonly Stripe.Refund[], idempotencyKey?: string): RefundLookup {
  const outcomes = refunds
    .filter((r) => r.metadata?.refundId === refundId && (!idempotencyKey || r.metadata?.idempotencyKey === idempotencyKey))
    .map(refundOutcome);
  for (const status of ['succeeded', 'pending', 'failed'] as const) {
    const found = outcomes.find((o) => o.status === status);
    if (found) return found;
  }
  return { status: 'not_found' };
}
