import { resourceMissing, type SimResponse } from './http-io.js';
import type { PaymentIntentStore } from './payment-intents.js';
import type { Refund } from './refund-object.js';

/**
 * Stripe's charge object, built on demand from the charge attempt, its
 * payment intent, its refunds and any dispute, so `amount_refunded`,
 * `refunded` and `disputed` always agree with them. It carries every
 * top-level field of Stripe's example; those for what the simulator does not
 * model (customers, Connect, shipping, receipts) hold Stripe's "none", and
 * card details are only what a test token says of itself.
 */
export interface ChargeViewDeps {
  intents: Pick<PaymentIntentStore, 'get' | 'charge'>;
  refundsOf: (intentId: string) => Refund[];
  isDisputed: (chargeId: string) => boolean;
}

const NO_ADDRESS = { city: null, country: null, line1: null, line2: null, postal_code: null, state: null };
const NO_BILLING_DETAILS = { address: NO_ADDRESS, email: null, name: null, phone: null, tax_id: null };

function outcomeOf(failure: { code: string } | null) {
  const common = { advice_code: null, network_advice_code: null, network_decline_code: null, reason: null, risk_level: 'normal' };
  return failure
    ? {
        ...common,
        network_status: 'declined_by_network',
        reason: 'generic_decline',
        seller_message: 'The bank did not return any further details with this decline.',
        type: 'issuer_declined',
      }
    : { ...common, network_status: 'approved_by_network', seller_message: 'Payment complete.', type: 'authorized' };
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
      application: null,
      application_fee: null,
      application_fee_amount: null,
      balance_transaction: null,
      billing_details: NO_BILLING_DETAILS,
      calculated_statement_descriptor: null,
      captured: succeeded,
      created: record.created,
      currency: intent.currency,
      customer: null,
      description: null,
      disputed: isDisputed(chargeId),
      failure_balance_transaction: null,
      failure_code: record.failure?.code ?? null,
      failure_message: record.failure?.message ?? null,
      fraud_details: {},
      livemode: false,
      metadata: intent.metadata,
      on_behalf_of: null,
      outcome: outcomeOf(record.failure),
      paid: succeeded,
      payment_intent: intent.id,
      payment_method: record.paymentMethod,
      payment_method_details: { type: 'card', card: { brand: 'visa', funding: 'credit', network: 'visa' } },
      receipt_email: null,
      receipt_number: null,
      receipt_url: null,
      refunded: succeeded && amountRefunded === intent.amount,
      refunds: { object: 'list', data: refunds, has_more: false, url: `/v1/charges/${chargeId}/refunds` },
      review: null,
      shipping: null,
      source: null,
      source_transfer: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: succeeded ? 'succeeded' : 'failed',
      transfer_data: null,
      transfer_group: null,
    };
  }

  function retrieve(chargeId: string): SimResponse {
    const charge = chargeObject(chargeId);
    if (charge) return { status: 200, body: charge };
    return resourceMissing('charge', chargeId, 'id');
  }

  return { chargeObject, retrieve };
}

export type ChargeView = ReturnType<typeof createChargeView>;
