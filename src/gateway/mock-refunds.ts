import { randomUUID } from 'node:crypto';
import { PermanentGatewayError, TransientGatewayError } from './gateway.errors.js';
import type { RefundLookup, RefundLookupRequest, RefundOutcome, RefundRequest } from './gateway.port.js';

/**
 * The mock gateway's refunds, in memory, with Stripe's rules: never more than
 * is left on the charge (a pending refund holds its amount), one refund per
 * idempotency key, and look-up by the gateway's id or by the caller's refund id.
 */
export interface MockRefundOptions {
  /** The status a new refund starts in; `succeeded` at once by default. A pending one settles through `settleRefund`. */
  refundStatus?: (request: RefundRequest) => 'succeeded' | 'pending' | 'failed';
  /** When true, the refund is made and then its answer is lost: the caller sees an unknown outcome. */
  loseRefundResponse?: (request: RefundRequest) => boolean;
}

/** A succeeded charge, as the refunds see it; undefined when the intent never charged. */
export type ChargedAmount = { amountMinor: bigint; currency: string } | undefined;

interface MockRefund {
  id: string;
  intentId: string;
  refundId: string;
  fingerprint: string;
  amountMinor: bigint;
  currency: string;
  status: 'succeeded' | 'pending' | 'failed';
  created: number;
}

export function createMockRefunds(chargedOf: (intentId: string) => ChargedAmount, options: MockRefundOptions = {}) {
  const { refundStatus = () => 'succeeded', loseRefundResponse = () => false } = options;
  const byKey = new Map<string, MockRefund>();
  const byId = new Map<string, MockRefund>();

  const refundsOf = (intentId: string) => [...byId.values()].filter((r) => r.intentId === intentId);
  // A pending refund holds its amount, as Stripe's does: only a failed one gives it back.
  const refundedOf = (intentId: string) => refundsOf(intentId).reduce((sum, r) => (r.status === 'failed' ? sum : sum + r.amountMinor), 0n);

  function refund(request: RefundRequest, signal?: AbortSignal): RefundOutcome {
    if (signal?.aborted) throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it was sent', 'not_sent');
    const fingerprint = [request.intentId, request.refundId, request.amountMinor ?? 'all that is left'].join('|');
    const seen = byKey.get(request.idempotencyKey);
    if (seen && seen.fingerprint !== fingerprint) {
      throw new PermanentGatewayError('invalid_request', 'the same idempotency key was used with other parameters');
    }
    const made = seen ?? create(request, fingerprint);
    if (!seen && loseRefundResponse(request)) {
      throw new TransientGatewayError('connection_lost', `the answer to refund ${made.id} was lost after it was made`, 'unknown');
    }
    return outcomeOf(made);
  }

  function create(request: RefundRequest, fingerprint: string): MockRefund {
    const charge = chargedOf(request.intentId);
    if (!charge) throw new PermanentGatewayError('not_charged', `payment intent ${request.intentId} has no successful charge to refund`);
    if (charge.currency !== request.currency) {
      throw new PermanentGatewayError('invalid_request', `the charge is in ${charge.currency}, not ${request.currency}`);
    }
    const left = charge.amountMinor - refundedOf(request.intentId);
    const amountMinor = request.amountMinor ?? left;
    if (request.amountMinor !== undefined && amountMinor <= 0n) throw new PermanentGatewayError('invalid_request', 'a refund amount must be positive');
    if (left <= 0n) throw new PermanentGatewayError('exceeds_refundable', `charge ${request.intentId} is refunded in full already`);
    if (amountMinor > left) {
      throw new PermanentGatewayError('exceeds_refundable', `a refund of ${amountMinor} is more than the ${left} left on charge ${request.intentId}`);
    }
    const made: MockRefund = {
      id: `mock_re_${randomUUID()}`,
      intentId: request.intentId,
      refundId: request.refundId,
      fingerprint,
      amountMinor,
      currency: charge.currency,
      status: refundStatus(request),
      created: Math.floor(Date.now() / 1000),
    };
    byKey.set(request.idempotencyKey, made);
    byId.set(made.id, made);
    return made;
  }

  function lookupRefund(request: RefundLookupRequest, signal?: AbortSignal): RefundLookup {
    if (signal?.aborted) throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it was sent', 'not_sent');
    if (request.gatewayRefundId) {
      const found = byId.get(request.gatewayRefundId);
      // As the Stripe adapter answers a 404 for an id it handed out: it cannot tell.
      if (!found) throw new TransientGatewayError('gateway_error', `look-up refused: no such refund ${request.gatewayRefundId}`, 'unknown');
      return outcomeOf(found);
    }
    const mine = refundsOf(request.intentId).filter(
      (r) => r.refundId === request.refundId && (!request.idempotencyKey || byKey.get(request.idempotencyKey) === r),
    );
    const found = mine.find((r) => r.status === 'succeeded') ?? mine.find((r) => r.status === 'pending') ?? mine[0];
    return found ? outcomeOf(found) : { status: 'not_found' };
  }

  /** For tests: settles a pending refund, as the gateway would later. */
  function settleRefund(gatewayRefundId: string, status: 'succeeded' | 'failed'): void {
    const found = byId.get(gatewayRefundId);
    if (found?.status !== 'pending') throw new Error(`refund ${gatewayRefundId} is not pending: only a pending refund settles`);
    found.status = status;
  }

  return { refund, lookupRefund, settleRefund };
}

function outcomeOf(refund: MockRefund): RefundOutcome {
  const response = {
    id: refund.id,
    status: refund.status,
    amount: refund.amountMinor.toString(),
    currency: refund.currency.toLowerCase(),
    payment_intent: refund.intentId,
    created: refund.created,
  };
  if (refund.status === 'failed') {
    return { status: 'failed', gatewayRefundId: refund.id, code: 'declined', reason: 'the card issuer declined the refund', response };
  }
  return { status: refund.status, gatewayRefundId: refund.id, amountMinor: refund.amountMinor, response };
}
