import { newId } from './intent-object.js';

/**
 * A dispute as Stripe's API returns it, with every top-level field of
 * Stripe's own example; evidence is empty, as it is when a dispute opens.
 */
export const DISPUTE_REASONS = [
  'bank_cannot_process',
  'credit_not_processed',
  'customer_initiated',
  'debit_not_authorized',
  'duplicate',
  'fraudulent',
  'general',
  'incorrect_account_details',
  'insufficient_funds',
  'product_not_received',
  'product_unacceptable',
  'subscription_canceled',
  'unrecognized',
] as const;
export type DisputeReason = (typeof DISPUTE_REASONS)[number];

const EVIDENCE_FIELDS = [
  'access_activity_log', 'billing_address', 'cancellation_policy', 'cancellation_policy_disclosure', 'cancellation_rebuttal',
  'customer_communication', 'customer_email_address', 'customer_name', 'customer_purchase_ip', 'customer_signature',
  'duplicate_charge_documentation', 'duplicate_charge_explanation', 'duplicate_charge_id', 'product_description', 'receipt',
  'refund_policy', 'refund_policy_disclosure', 'refund_refusal_explanation', 'service_date', 'service_documentation',
  'shipping_address', 'shipping_carrier', 'shipping_date', 'shipping_documentation', 'shipping_tracking_number',
  'uncategorized_file', 'uncategorized_text',
] as const;

/** Stripe gives about three weeks to answer a dispute. */
const RESPONSE_WINDOW_S = 21 * 86_400;

export interface NewDispute {
  amount: number;
  charge: string;
  currency: string;
  paymentIntent: string;
  reason: DisputeReason;
  created: number;
}

export function newDispute(made: NewDispute) {
  return {
    id: newId('dp'),
    object: 'dispute' as const,
    amount: made.amount,
    balance_transactions: [] as unknown[],
    charge: made.charge,
    created: made.created,
    currency: made.currency,
    enhanced_eligibility_types: [] as string[],
    evidence: { ...Object.fromEntries(EVIDENCE_FIELDS.map((field) => [field, null])), enhanced_evidence: {} },
    evidence_details: {
      due_by: made.created + RESPONSE_WINDOW_S,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
    },
    is_charge_refundable: false,
    livemode: false as const,
    metadata: {} as Record<string, string>,
    payment_intent: made.paymentIntent,
    payment_method_details: { type: 'card', card: { brand: 'visa', case_type: 'chargeback', network: 'visa', network_reason_code: '10.4' } },
    reason: made.reason,
    status: 'needs_response' as const,
  };
}

export type Dispute = ReturnType<typeof newDispute>;
