import { randomBytes } from 'node:crypto';
import type { CreateParams } from './intent-params.js';

/**
 * A payment intent as Stripe's API returns it, with every top-level field of
 * Stripe's own example (tests/unit/gateway/sim-object-fields.test.ts holds
 * it to that), and how one is made. Fields for features the simulator does
 * not model (customers, Connect, shipping) hold Stripe's value for "none".
 */

export type IntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'succeeded'
  | 'canceled';

/** Versions are replaced, never mutated: search keeps the old ones. */
export interface PaymentIntent {
  readonly id: string;
  readonly object: 'payment_intent';
  /** A checked integer of at most eight digits: exact as a JSON number, as Stripe sends it. */
  readonly amount: number;
  readonly amount_received: number;
  readonly currency: string;
  readonly status: IntentStatus;
  readonly created: number;
  readonly metadata: Record<string, string>;
  readonly payment_method: string | null;
  readonly payment_method_types: string[];
  readonly capture_method: 'automatic';
  readonly confirmation_method: 'automatic';
  readonly latest_charge: string | null;
  readonly last_payment_error: Record<string, unknown> | null;
  readonly canceled_at: number | null;
  readonly cancellation_reason: string | null;
  readonly livemode: false;
  readonly amount_capturable: number;
  readonly amount_details: { tip: Record<string, never> };
  readonly application: null;
  readonly application_fee_amount: null;
  readonly automatic_payment_methods: null;
  readonly client_secret: string;
  readonly customer: null;
  readonly customer_account: null;
  readonly description: null;
  readonly excluded_payment_method_types: null;
  readonly managed_payments: { enabled: boolean };
  readonly next_action: null;
  readonly on_behalf_of: null;
  readonly payment_method_configuration_details: null;
  readonly payment_method_options: { card: Record<string, unknown> };
  readonly processing: null;
  readonly receipt_email: null;
  readonly review: null;
  readonly setup_future_usage: null;
  readonly shipping: null;
  readonly source: null;
  readonly statement_descriptor: null;
  readonly statement_descriptor_suffix: null;
  readonly transfer_data: null;
  readonly transfer_group: null;
}

export function newIntent(params: CreateParams, created: number): PaymentIntent {
  const id = newId('pi');
  return {
    id,
    object: 'payment_intent',
    amount: Number(params.amount),
    amount_received: 0,
    currency: params.currency,
    status: params.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
    created,
    metadata: params.metadata,
    payment_method: params.paymentMethod ?? null,
    payment_method_types: ['card'],
    capture_method: 'automatic',
    confirmation_method: 'automatic',
    latest_charge: null,
    last_payment_error: null,
    canceled_at: null,
    cancellation_reason: null,
    livemode: false,
    amount_capturable: 0,
    amount_details: { tip: {} },
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    // Stripe's shape; it authorises nothing here, and the adapter never stores it.
    client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
    customer: null,
    customer_account: null,
    description: null,
    excluded_payment_method_types: null,
    managed_payments: { enabled: false },
    next_action: null,
    on_behalf_of: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    transfer_data: null,
    transfer_group: null,
  };
}

export function newId(prefix: string): string {
  return `${prefix}_sim${randomBytes(12).toString('hex')}`;
}
