import { randomBytes } from 'node:crypto';
import type { CreateParams } from './intent-params.js';

/** A payment intent as Stripe's API returns it, limited to the fields the adapter reads, and how one is made. */

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
}

export function newIntent(params: CreateParams, created: number): PaymentIntent {
  return {
    id: newId('pi'),
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
  };
}

export function newId(prefix: string): string {
  return `${prefix}_sim${randomBytes(12).toString('hex')}`;
}
