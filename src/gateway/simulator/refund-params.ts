import { stripeError, type SimResponse } from './http-io.js';
import { REFUND_REASONS, type RefundReason } from './refund-object.js';

/**
 * Validation of `POST /v1/refunds`. A refusal here never ran, so its
 * idempotency key is not stored. The simulator refunds by `payment_intent`
 * (as the adapter does) or by `charge`.
 */
export interface RefundParams {
  /** Exactly one of the two names what is refunded. */
  paymentIntent?: string;
  charge?: string;
  /** Minor units; undefined means whatever is left. */
  amount?: number;
  metadata: Record<string, string>;
  reason: RefundReason | null;
}

const MAX_AMOUNT = 99_999_999;

function invalid(param: string, message: string, code = 'parameter_invalid'): SimResponse {
  return stripeError(400, { type: 'invalid_request_error', code, param, message });
}

export function parseRefund(body: Record<string, unknown>): RefundParams | SimResponse {
  const { payment_intent: paymentIntent, charge, amount, metadata = {}, reason } = body;
  if (paymentIntent === undefined && charge === undefined) {
    return invalid('payment_intent', 'Must provide either payment_intent or charge to refund', 'parameter_missing');
  }
  if (paymentIntent !== undefined && typeof paymentIntent !== 'string') return invalid('payment_intent', 'payment_intent must be an id');
  if (charge !== undefined && typeof charge !== 'string') return invalid('charge', 'charge must be an id');
  if (amount !== undefined && (typeof amount !== 'string' || !/^\d{1,9}$/.test(amount) || Number(amount) < 1)) {
    return invalid('amount', 'Invalid positive integer', 'parameter_invalid_integer');
  }
  if (amount !== undefined && Number(amount) > MAX_AMOUNT) {
    return invalid('amount', 'Amount must be no more than 99999999 minor units', 'amount_too_large');
  }
  if (reason !== undefined && !REFUND_REASONS.includes(reason as RefundReason)) {
    return invalid('reason', `reason must be one of ${REFUND_REASONS.join(', ')}`);
  }
  if (!isStringRecord(metadata)) return invalid('metadata', 'Metadata values must be strings');
  return {
    ...(paymentIntent !== undefined ? { paymentIntent } : {}),
    ...(charge !== undefined ? { charge } : {}),
    ...(amount !== undefined ? { amount: Number(amount) } : {}),
    metadata,
    reason: (reason as RefundReason | undefined) ?? null,
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}
