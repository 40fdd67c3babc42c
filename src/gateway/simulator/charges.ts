import { stripeError, type SimResponse } from './http-io.js';
import type { PaymentIntentStore } from './payment-intents.js';
import type { Refund } from './refund-object.js';

/**
 * Stripe's charge object, built on demand from the charge attempt, its
 * payment intent, its refunds and any dispute, so `amount_refunded`,
 * `refunded` and `disputed` always agree with them. It carries the fields a
 * charge's consumers read (`charge.refunded` events, `GET /v1/charges/:id`),
 * not card details the simulator never has.
 */
export interface ChargeViewDeps {
  intents: Pick<PaymentIntentStore, 'get' | 'charge'>;
  refundsOf: (intentId: string) => Refund[];
  isDisputed: (chargeId: string) => boolean;
}

export function createChargeView({ intents, refundsOf, isDisputed }: ChargeViewDeps) {
  function chargeObject(chargeId: string): Record<string, unknown> | undefined {
    const record = intents.charge(chargeId);
    const intent = record && intents.get(record.paymentIntent);
    if (!record || !intent) return undefined;
    const succeeded = record.failure === null;
    // Only the intent's latest charge can have been refunded: it is the one that succeeded.
    const refunds = succeeded ? refundsOf(intent.id).filter((refund) => refund.charge === chargeId).reverse() : [];
    const amountRefunded = refunds.reduce((sum, refund) => (refund.status === 'failed' ? sum : sum + refund.amount), 0);
    return {
      id: chargeId,
      object: 'charge',
      amount: intent.amount,
      amount_captured: succeeded ? intent.amount : 0,
      amount_refunded: amountRefunded,
      balance_transaction: null,
      captured: succeeded,
      created: record.created,
      currency: intent.currency,
      customer: null,
      description: null,
      disputed: isDisputed(chargeId),
      failure_code: record.failure?.code ?? null,
      failure_message: record.failure?.message ?? null,
      livemode: false,
      metadata: intent.metadata,
      outcome: { type: succeeded ? 'authorized' : 'issuer_declined', network_status: succeeded ? 'approved_by_network' : 'declined_by_network' },
      paid: succeeded,
      payment_intent: intent.id,
      payment_method: record.paymentMethod,
      refunded: succeeded && amountRefunded === intent.amount,
      refunds: { object: 'list', data: refunds, has_more: false, url: `/v1/charges/${chargeId}/refunds` },
      status: succeeded ? 'succeeded' : 'failed',
    };
  }

  function retrieve(chargeId: string): SimResponse {
    const charge = chargeObject(chargeId);
    if (charge) return { status: 200, body: charge };
    return stripeError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      param: 'id',
      message: `No such charge: '${chargeId.slice(0, 80)}'`,
    });
  }

  return { chargeObject, retrieve };
}

export type ChargeView = ReturnType<typeof createChargeView>;
