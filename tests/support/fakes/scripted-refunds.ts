import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { RefundLookup, RefundLookupRequest, RefundOutcome, RefundRequest } from '../../../src/gateway/gateway.port.js';

/**
 * What the next refund that is not a repeat of a key does:
 * `succeeded` / `pending` / `failed`: the gateway makes it, in that status;
 * `refused`: a definite refusal (`exceeds_refundable`), nothing made;
 * `lost`: made (succeeded), then the answer is lost: transient, outcome unknown;
 * `timeout`: transient, outcome unknown, and nothing was made;
 * `not_sent`: transient, certainly not sent (connection refused).
 */
export type RefundScriptStep = 'succeeded' | 'pending' | 'failed' | 'refused' | 'lost' | 'timeout' | 'not_sent';

export interface MadeRefund {
  gatewayRefundId: string;
  refundId: string;
  intentId: string;
  idempotencyKey: string;
  amountMinor: bigint;
  status: 'succeeded' | 'pending' | 'failed';
}

/**
 * Refunds as Stripe keeps them: one per idempotency key (a repeated key
 * answers the refund it made, whatever the script says next), never more than
 * is left on the charge (a pending refund holds its amount, a failed one gives
 * it back), look-up by the gateway's id or by the caller's refund id
 * (src/gateway/stripe-refunds.ts `refundFor`).
 * `chargedOf` says what an intent charged (undefined: nothing).
 */
export function createScriptedRefunds(
  steps: RefundScriptStep[],
  o: { name: string; chargedOf: (intentId: string) => { amountMinor: bigint; currency: string } | undefined; lookupFails?: boolean; log: (operation: string) => void },
) {
  const script = [...steps];
  const made: MadeRefund[] = [];
  const calls = { refund: [] as RefundRequest[], lookupRefund: [] as RefundLookupRequest[] };

  const outcomeOf = (r: MadeRefund): RefundOutcome => {
    const response = { id: r.gatewayRefundId, status: r.status, amount: r.amountMinor.toString() };
    if (r.status === 'failed') return { status: 'failed', gatewayRefundId: r.gatewayRefundId, code: 'declined', reason: 'the card issuer declined the refund', response };
    return { status: r.status, gatewayRefundId: r.gatewayRefundId, amountMinor: r.amountMinor, response };
  };

  function make(request: RefundRequest, status: MadeRefund['status']): MadeRefund {
    const charge = o.chargedOf(request.intentId);
    if (!charge) throw new PermanentGatewayError('not_charged', `payment intent ${request.intentId} has no successful charge to refund`);
    const held = made.filter((r) => r.intentId === request.intentId && r.status !== 'failed').reduce((sum, r) => sum + r.amountMinor, 0n);
    const amountMinor = request.amountMinor ?? charge.amountMinor - held;
    if (amountMinor > charge.amountMinor - held) throw new PermanentGatewayError('exceeds_refundable', `a refund of ${amountMinor} is more than is left on ${request.intentId}`);
    const refund: MadeRefund = { gatewayRefundId: `re_${o.name}_${made.length + 1}`, refundId: request.refundId, intentId: request.intentId, idempotencyKey: request.idempotencyKey, amountMinor, status };
    made.push(refund);
    return refund;
  }

  return {
    calls,
    made,
    async refund(request: RefundRequest): Promise<RefundOutcome> {
      calls.refund.push(request);
      o.log('refund');
      const seen = made.find((r) => r.idempotencyKey === request.idempotencyKey);
      if (seen) return outcomeOf(seen);
      const step = script.shift() ?? 'succeeded';
      switch (step) {
        case 'refused':
          throw new PermanentGatewayError('exceeds_refundable', `charge ${request.intentId} is refunded in full already`);
        case 'not_sent':
          throw new TransientGatewayError('gateway_unavailable', 'connect ECONNREFUSED', 'not_sent');
        case 'timeout':
          throw new TransientGatewayError('gateway_timeout', 'no answer in time', 'unknown');
        case 'lost':
          make(request, 'succeeded');
          throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
        default:
          return outcomeOf(make(request, step));
      }
    },
    async lookupRefund(request: RefundLookupRequest): Promise<RefundLookup> {
      calls.lookupRefund.push(request);
      o.log('lookupRefund');
      if (o.lookupFails) throw new TransientGatewayError('gateway_unavailable', 'look-up refused', 'not_sent');
      if (request.gatewayRefundId) {
        const found = made.find((r) => r.gatewayRefundId === request.gatewayRefundId);
        if (!found) throw new TransientGatewayError('gateway_error', `no such refund ${request.gatewayRefundId}`, 'unknown');
        return outcomeOf(found);
      }
      // As the Stripe adapter picks among a charge's refunds for one refund id: one that moved (or may move) money wins over a failed one.
      const mine = made.filter(
        (r) => r.intentId === request.intentId && r.refundId === request.refundId && (!request.idempotencyKey || r.idempotencyKey === request.idempotencyKey),
      );
      const found = mine.find((r) => r.status === 'succeeded') ?? mine.find((r) => r.status === 'pending') ?? mine[0];
      return found ? outcomeOf(found) : { status: 'not_found' };
    },
    /** Settles a pending refund, as the gateway does later. */
    settle(gatewayRefundId: string, status: 'succeeded' | 'failed'): void {
      const found = made.find((r) => r.gatewayRefundId === gatewayRefundId);
      if (found?.status !== 'pending') throw new Error(`refund ${gatewayRefundId} is not pending: only a pending refund settles`);
      found.status = status;
    },
  };
}
