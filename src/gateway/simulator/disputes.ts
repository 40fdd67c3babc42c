import { DISPUTE_REASONS, newDispute, type Dispute, type DisputeReason } from './dispute-object.js';
import type { Publish } from './events.js';
import { resourceMissing, type SimResponse } from './http-io.js';
import type { PaymentIntentStore } from './payment-intents.js';

/**
 * Disputes as a card holder's bank opens them: `POST /_sim/disputes` plays the
 * bank, on a succeeded charge only, once per charge (as Stripe allows one
 * dispute per charge), for what has not been refunded. `charge.dispute.created`
 * follows; the dispute can be read back with `GET /v1/disputes/:id`.
 */
export type OpenDispute = { ok: true; dispute: Dispute } | { ok: false; message: string };

export interface DisputeStoreDeps {
  intents: Pick<PaymentIntentStore, 'get'>;
  refundedOf: (intentId: string) => number;
  unixSeconds: () => number;
  publish: Publish;
}

export function createDisputeStore({ intents, refundedOf, unixSeconds, publish }: DisputeStoreDeps) {
  const byCharge = new Map<string, Dispute>();
  const byId = new Map<string, Dispute>();

  function open(request: unknown): OpenDispute {
    const { paymentIntent, reason = 'general' } = (typeof request === 'object' && request !== null ? request : {}) as Record<string, unknown>;
    if (typeof paymentIntent !== 'string') return refused('the body must be JSON { "paymentIntent": "pi_…" } (optional "reason")');
    if (!DISPUTE_REASONS.includes(reason as DisputeReason)) return refused(`reason must be one of ${DISPUTE_REASONS.join(', ')}`);
    const intent = intents.get(paymentIntent);
    if (!intent) return refused(`no payment intent ${paymentIntent.slice(0, 80)}: create and confirm one first`);
    if (intent.status !== 'succeeded' || !intent.latest_charge) {
      return refused(`payment intent ${intent.id} has status ${intent.status}: only a succeeded charge can be disputed`);
    }
    if (byCharge.has(intent.latest_charge)) return refused(`charge ${intent.latest_charge} is already disputed: a charge can be disputed once`);
    const amount = intent.amount_received - refundedOf(intent.id);
    if (amount <= 0) return refused(`charge ${intent.latest_charge} is refunded in full: there is nothing left to dispute`);
    const dispute = newDispute({
      amount,
      charge: intent.latest_charge,
      currency: intent.currency,
      paymentIntent: intent.id,
      reason: reason as DisputeReason,
      created: unixSeconds(),
    });
    byCharge.set(dispute.charge, dispute);
    byId.set(dispute.id, dispute);
    publish('charge.dispute.created', dispute);
    return { ok: true, dispute };
  }

  function retrieve(id: string): SimResponse {
    const dispute = byId.get(id);
    if (dispute) return { status: 200, body: dispute };
    return resourceMissing('dispute', id, 'dispute');
  }

  return { open, retrieve, isDisputed: (chargeId: string) => byCharge.has(chargeId), list: () => [...byId.values()] };
}

export type DisputeStore = ReturnType<typeof createDisputeStore>;

function refused(message: string): OpenDispute {
  return { ok: false, message: `cannot open a dispute: ${message}` };
}
