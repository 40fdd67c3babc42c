import { newId } from './intent-object.js';

/**
 * A refund as Stripe's API returns it, with every top-level field of Stripe's
 * own example, and how one is made. `failure_reason` and
 * `failure_balance_transaction` appear only on a failed refund, as on Stripe.
 */
export type RefundStatus = 'pending' | 'succeeded' | 'failed';

export const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

/** Versions are replaced, never mutated: an event keeps the refund as it was. */
export interface Refund {
  readonly id: string;
  readonly object: 'refund';
  /** Minor units; at most eight digits, exact as a JSON number. */
  readonly amount: number;
  readonly balance_transaction: string;
  readonly charge: string;
  readonly created: number;
  readonly currency: string;
  readonly customer: null;
  readonly customer_account: null;
  readonly destination_details: {
    type: 'card';
    card: { reference: string | null; reference_status: string; reference_type: string; type: 'refund' };
  };
  readonly metadata: Record<string, string>;
  readonly payment_intent: string;
  readonly payment_method: string | null;
  readonly reason: RefundReason | null;
  readonly receipt_number: null;
  readonly source_transfer_reversal: null;
  readonly status: RefundStatus;
  readonly transfer_reversal: null;
  readonly failure_reason?: 'unknown';
  readonly failure_balance_transaction?: string;
}

export interface NewRefund {
  amount: number;
  charge: string;
  currency: string;
  paymentIntent: string;
  paymentMethod: string | null;
  metadata: Record<string, string>;
  reason: RefundReason | null;
  status: RefundStatus;
  created: number;
}

export function newRefund(made: NewRefund): Refund {
  const refund: Refund = {
    id: newId('re'),
    object: 'refund',
    amount: made.amount,
    balance_transaction: newId('txn'),
    charge: made.charge,
    created: made.created,
    currency: made.currency,
    customer: null,
    customer_account: null,
    destination_details: {
      type: 'card',
      card: { reference: null, reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
    },
    metadata: made.metadata,
    payment_intent: made.paymentIntent,
    payment_method: made.paymentMethod,
    reason: made.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: made.status,
    transfer_reversal: null,
  };
  return made.status === 'failed' ? failed(refund) : settled(refund, made.status);
}

/** The refund once its money has moved, or once it failed and its money came back. */
export function settled(refund: Refund, status: RefundStatus): Refund {
  if (status === 'failed') return failed(refund);
  const reference = status === 'succeeded' ? { reference: refund.id.slice(-12), reference_status: 'available' } : {};
  return { ...refund, status, destination_details: { ...refund.destination_details, card: { ...refund.destination_details.card, ...reference } } };
}

function failed(refund: Refund): Refund {
  return {
    ...refund,
    status: 'failed',
    failure_reason: 'unknown',
    failure_balance_transaction: newId('txn'),
    destination_details: { ...refund.destination_details, card: { ...refund.destination_details.card, reference_status: 'unavailable' } },
  };
}
