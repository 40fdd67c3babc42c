import { stripeError, type SimResponse } from './http-io.js';

/**
 * Validation of the form parameters of create, confirm and cancel. A
 * refusal here is a 400 that never ran, so its key is not stored. Other
 * parameters Stripe accepts are ignored, as the simulator has no use for them.
 */
export interface CreateParams {
  /** Minor units as a canonical decimal string. */
  amount: string;
  currency: string;
  paymentMethod?: string;
  confirm: boolean;
  metadata: Record<string, string>;
}

export interface ConfirmParams {
  paymentMethod?: string;
}

export interface CancelParams {
  reason?: CancellationReason;
}

const CANCELLATION_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const;
export type CancellationReason = (typeof CANCELLATION_REASONS)[number];

/** Stripe's upper bound for an amount: eight digits of minor units. */
const MAX_AMOUNT = 99_999_999n;

function invalid(param: string, message: string): SimResponse {
  return stripeError(400, { type: 'invalid_request_error', code: 'parameter_invalid', param, message });
}

export function parseCreate(body: Record<string, unknown>): CreateParams | SimResponse {
  const { amount, currency, confirm, metadata = {} } = body;
  if (typeof amount !== 'string' || !/^\d{1,9}$/.test(amount) || BigInt(amount) < 1n || BigInt(amount) > MAX_AMOUNT) {
    return invalid('amount', 'Amount must be a whole number of minor units between 1 and 99999999');
  }
  if (typeof currency !== 'string' || !/^[a-zA-Z]{3}$/.test(currency)) return invalid('currency', 'Invalid currency');
  const paymentMethod = parsePaymentMethod(body);
  if (typeof paymentMethod === 'object') return paymentMethod;
  if (confirm !== undefined && confirm !== 'true' && confirm !== 'false') return invalid('confirm', 'confirm must be true or false');
  if (confirm === 'true' && paymentMethod === undefined) return invalid('payment_method', 'Missing payment_method');
  if (!isStringRecord(metadata)) return invalid('metadata', 'Metadata values must be strings');
  return { amount: BigInt(amount).toString(), currency: currency.toLowerCase(), paymentMethod, confirm: confirm === 'true', metadata };
}

export function parseConfirm(body: Record<string, unknown>): ConfirmParams | SimResponse {
  const paymentMethod = parsePaymentMethod(body);
  return typeof paymentMethod === 'object' ? paymentMethod : { paymentMethod };
}

export function parseCancel(body: Record<string, unknown>): CancelParams | SimResponse {
  const reason = body.cancellation_reason;
  if (reason === undefined) return {};
  if (!CANCELLATION_REASONS.includes(reason as CancellationReason)) {
    return invalid('cancellation_reason', `cancellation_reason must be one of ${CANCELLATION_REASONS.join(', ')}`);
  }
  return { reason: reason as CancellationReason };
}

/** The payment method token if one is given, undefined if none, a 400 if it is not a token. */
function parsePaymentMethod(body: Record<string, unknown>): string | undefined | SimResponse {
  const value = body.payment_method;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') return invalid('payment_method', 'payment_method must be a payment method id');
  return value;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}
